package dev.strata.engine.ops.convert;

/*
 * Design note: qemu-img convert -r puts the target in a throttle group with one limit, the
 * average write bytes per second (THROTTLE_BPS_WRITE, no burst setting). qemu's throttle is a
 * leaky bucket: the level drains at the average rate; a request may start while the level is at
 * most a tenth of the rate (the short burst qemu allows when no maximum is set), and then adds
 * its whole size to the level. So the first request always starts at once, and a big request
 * makes the following ones wait until it has drained. Every write counts, zero writes and
 * compressed writes included; copy offloading bypasses the throttle, as in qemu.
 */

import dev.strata.engine.StrataException;

/** The write rate limit of one convert (qemu's throttle bucket); thread-safe. */
final class WriteThrottle {
    /** No limit: {@link #admit} returns at once. */
    static final WriteThrottle NONE = new WriteThrottle(0);

    private static final double NANOS = 1e9;

    private final long bytesPerSecond;
    private double level;
    private long lastLeak = System.nanoTime();

    WriteThrottle(long bytesPerSecond) {
        this.bytesPerSecond = bytesPerSecond;
    }

    /** Waits until a write of {@code bytes} may start under the limit, then accounts for it. */
    void admit(long bytes) {
        if (bytesPerSecond <= 0) {
            return;
        }
        synchronized (this) {
            double burst = bytesPerSecond / 10.0;
            leak();
            while (level > burst) {
                long waitNanos = (long) Math.ceil((level - burst) / bytesPerSecond * NANOS);
                try {
                    Thread.sleep(waitNanos / 1_000_000, (int) (waitNanos % 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw StrataException.io("interrupted while converting");
                }
                leak();
            }
            level += bytes;
        }
    }

    private void leak() {
        long now = System.nanoTime();
        level = Math.max(0, level - (now - lastLeak) * (double) bytesPerSecond / NANOS);
        lastLeak = now;
    }
}
