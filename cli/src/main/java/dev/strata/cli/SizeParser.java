package dev.strata.cli;

import dev.strata.engine.ops.create.QemuSizeText;

/**
 * Sizes as qemu-img reads them: QEMU's {@code qemu_strtosz} (decimal or 0x-hex integers,
 * optional decimal fraction, optional suffix b/B (1), k/K, M, G, T, P, E (powers of 1024), the
 * fraction requiring a suffix other than b) and qemu-img's {@code cvtnum} range check with its
 * error wording.
 */
public final class SizeParser {
    private SizeParser() {
    }

    /** Why a size did not parse. */
    public enum Failure {
        /** Not a size at all (qemu's EINVAL). */
        INVALID,
        /** Larger than 2^64 - 1 (qemu's ERANGE). */
        RANGE
    }

    /** A size that did not parse, with qemu's reason. */
    public static final class SizeException extends Exception {
        private static final long serialVersionUID = 1L;
        private final Failure failure;

        SizeException(Failure failure) {
            super(failure.name());
            this.failure = failure;
        }

        public Failure failure() {
            return failure;
        }
    }

    /**
     * qemu_strtosz of the whole string (trailing garbage is invalid), as the engine's
     * {@link QemuSizeText} reads it (one parser for every face).
     *
     * @return the size as an unsigned 64-bit value (may be negative as a Java long)
     */
    public static long parse(String text) throws SizeException {
        try {
            return QemuSizeText.parse(text);
        } catch (QemuSizeText.NotASize e) {
            throw new SizeException(e.failure() == QemuSizeText.Failure.RANGE ? Failure.RANGE : Failure.INVALID);
        }
    }

    /**
     * qemu-img's {@code cvtnum(name, value)}: a size in [0, INT64_MAX], or the two-line (or
     * one-line) error qemu-img prints, reported through {@code ctx}.
     *
     * @return the size, or -1 after reporting the error
     */
    public static long cvtnum(CliContext ctx, String name, String value) {
        long v;
        try {
            v = parse(value);
        } catch (SizeException e) {
            if (e.failure() == Failure.INVALID) {
                ctx.error("Invalid " + name + " specified. You may use k, M, G, T, P or E suffixes for");
                ctx.error("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
                return -1;
            }
            v = -1;
        }
        if (v < 0) {
            ctx.error("Invalid " + name + " specified. Must be between 0 and " + Long.MAX_VALUE + ".");
            return -1;
        }
        return v;
    }
}
