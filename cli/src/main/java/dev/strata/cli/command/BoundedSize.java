package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.SizeParser;

/**
 * qemu-img's {@code cvtnum_full(name, value, min, max)}: a size (qemu_strtosz) within
 * [min, max], or qemu-img's error lines. An unparsable value gets the two-line suffix hint; a
 * value out of range (or beyond 2^64) gets "Invalid NAME specified. Must be between MIN and MAX.".
 */
final class BoundedSize {
    private BoundedSize() {
    }

    /**
     * @return the value, or -1 after reporting the error through {@code ctx} ({@code min} is
     *         never negative in qemu-img's calls, so -1 is never a valid result)
     */
    static long parse(CliContext ctx, String name, String value, long min, long max) {
        long v;
        boolean range = false;
        try {
            v = SizeParser.parse(value);
        } catch (SizeParser.SizeException e) {
            if (e.failure() == SizeParser.Failure.INVALID) {
                ctx.error("Invalid " + name + " specified. You may use k, M, G, T, P or E suffixes for");
                ctx.error("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
                return -1;
            }
            v = 0;
            range = true;
        }
        // qemu compares the uint64_t result with int64_t bounds: unsigned comparisons.
        if (range || Long.compareUnsigned(v, max) > 0 || Long.compareUnsigned(v, min) < 0) {
            ctx.error("Invalid " + name + " specified. Must be between " + min + " and " + max + ".");
            return -1;
        }
        return v;
    }
}
