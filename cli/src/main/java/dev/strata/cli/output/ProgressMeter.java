package dev.strata.cli.output;

import java.io.PrintStream;

/**
 * QEMU's {@code qemu-progress} simple printer as qemu-img uses it for {@code -p}: single-precision
 * arithmetic exactly as QEMU does it, a line "    (%3.2f/100%)\r" whenever progress moved by more
 * than {@code minSkip} percent or is at 0 or 100, and a newline at the end. A disabled meter
 * prints nothing.
 */
public final class ProgressMeter {
    private final PrintStream out;
    private final boolean enabled;
    private final float minSkip;
    private float current;
    private float lastPrint;

    public ProgressMeter(PrintStream out, boolean enabled, float minSkip) {
        this.out = out;
        this.enabled = enabled;
        this.minSkip = minSkip;
    }

    /** qemu_progress_print(delta, max). */
    public void print(float delta, int max) {
        float cur;
        if (max == 0) {
            cur = delta;
        } else {
            cur = current + delta / 100 * max;
        }
        if (cur > 100) {
            cur = 100;
        }
        current = cur;
        if (cur > lastPrint + minSkip || cur < lastPrint - minSkip || cur == 0 || cur == 100) {
            lastPrint = cur;
            if (enabled) {
                out.print("    (" + CFormat.f(cur, 2) + "/100%)\r");
                out.flush();
            }
        }
    }

    /** The step qemu-img compare reports for {@code chunk} bytes out of {@code base}. */
    public void advance(long chunk, long base) {
        print(((float) chunk / (float) base) * 100, 100);
    }

    /** qemu_progress_end(). */
    public void end() {
        if (enabled) {
            out.print("\n");
            out.flush();
        }
    }
}
