package dev.strata.cli.output;

import dev.strata.engine.ops.check.CheckReport;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * The human form of a {@link CheckReport}, byte for byte what qemu-img's dump_human_image_check
 * prints (including the blank line before each finding and C's rounding of "%0.2f").
 */
public final class CheckText {
    private CheckText() {
    }

    /** The report as qemu-img prints it on stdout (every line newline-terminated). */
    public static String render(CheckReport r) {
        StringBuilder sb = new StringBuilder();
        if (r.corruptions() == 0 && r.leaks() == 0 && r.checkErrors() == 0) {
            sb.append("No errors were found on the image.\n");
        } else {
            if (r.corruptions() != 0) {
                sb.append('\n').append(r.corruptions()).append(" errors were found on the image.\n")
                        .append("Data may be corrupted, or further writes to the image may corrupt it.\n");
            }
            if (r.leaks() != 0) {
                sb.append('\n').append(r.leaks()).append(" leaked clusters were found on the image.\n")
                        .append("This means waste of disk space, but no harm to data.\n");
            }
            if (r.checkErrors() != 0) {
                sb.append('\n').append(r.checkErrors()).append(" internal errors have occurred during the check.\n");
            }
        }
        if (r.totalClusters() != 0 && r.allocatedClusters() != 0) {
            sb.append(r.allocatedClusters()).append('/').append(r.totalClusters()).append(" = ")
                    .append(percent(r.allocatedClusters(), r.totalClusters())).append("% allocated, ")
                    .append(percent(r.fragmentedClusters(), r.allocatedClusters())).append("% fragmented, ")
                    .append(percent(r.compressedClusters(), r.allocatedClusters())).append("% compressed clusters\n");
        }
        if (r.imageEndOffset() != 0) {
            sb.append("Image end offset: ").append(r.imageEndOffset()).append('\n');
        }
        return sb.toString();
    }

    /**
     * C's {@code printf("%0.2f", part * 100.0 / whole)}: the double is computed as C computes it,
     * then its exact binary value is rounded half-to-even (glibc's default), which Java's
     * {@code %.2f} (half-up on the shortest decimal) does not reproduce for values like 0.125.
     */
    static String percent(long part, long whole) {
        double value = part * 100.0 / whole;
        return new BigDecimal(value).setScale(2, RoundingMode.HALF_EVEN).toPlainString();
    }
}
