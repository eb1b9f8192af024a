package dev.strata.cli;

import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * Sizes as qemu-img reads them: QEMU's {@code qemu_strtosz} (decimal or 0x-hex integers,
 * optional decimal fraction, optional suffix b/B (1), k/K, M, G, T, P, E (powers of 1024), the
 * fraction requiring a suffix other than b) and qemu-img's {@code cvtnum} range check with its
 * error wording.
 */
public final class SizeParser {
    private static final BigInteger TWO_64 = BigInteger.ONE.shiftLeft(64);
    private static final BigInteger U64_MAX = TWO_64.subtract(BigInteger.ONE);

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
     * qemu_strtosz of the whole string (trailing garbage is invalid).
     *
     * @return the size as an unsigned 64-bit value (may be negative as a Java long)
     */
    public static long parse(String text) throws SizeException {
        int pos = 0;
        int n = text.length();
        // strtoull: leading white space, optional sign.
        while (pos < n && isSpace(text.charAt(pos))) {
            pos++;
        }
        int signPos = pos;
        if (pos < n && (text.charAt(pos) == '+' || text.charAt(pos) == '-')) {
            pos++;
        }
        int digitsStart = pos;
        while (pos < n && Character.isDigit(text.charAt(pos)) && text.charAt(pos) < 128) {
            pos++;
        }
        if (pos == digitsStart) {
            throw new SizeException(Failure.INVALID);
        }
        if (text.charAt(signPos) == '-') {
            throw new SizeException(Failure.INVALID);
        }
        BigInteger val = new BigInteger(text.substring(digitsStart, pos));
        if (val.compareTo(U64_MAX) > 0) {
            throw new SizeException(Failure.RANGE);
        }
        BigInteger valf = BigInteger.ZERO;
        if (val.signum() == 0 && pos < n && (text.charAt(pos) == 'x' || text.charAt(pos) == 'X')) {
            return parseHex(text, digitsStart);
        } else if (pos < n && text.charAt(pos) == '.') {
            int f = pos;
            int q = f + 1;
            while (q < n && Character.isDigit(text.charAt(q)) && text.charAt(q) < 128) {
                q++;
            }
            if (q == f + 1) {
                // strtod could not parse a fraction here ("1." or "1.k"): skip the dot.
                pos = f + 1;
            } else {
                if (q < n && (text.charAt(q) == 'e' || text.charAt(q) == 'E')) {
                    int r = q + 1;
                    if (r < n && (text.charAt(r) == '+' || text.charAt(r) == '-')) {
                        r++;
                    }
                    if (r < n && Character.isDigit(text.charAt(r))) {
                        // strtod would take an exponent: qemu rejects the input.
                        throw new SizeException(Failure.INVALID);
                    }
                }
                double fraction = Double.parseDouble("0" + text.substring(f, q));
                // (uint64_t)(fraction * 0x1p64), exact in binary.
                valf = new BigDecimal(fraction * 0x1p64).toBigInteger();
                if (valf.compareTo(U64_MAX) > 0) {
                    valf = U64_MAX;
                }
                pos = q;
            }
        }
        long mul = 1;
        if (pos < n) {
            long m = suffix(text.charAt(pos));
            if (m > 0) {
                mul = m;
                pos++;
            }
        }
        if (pos != n) {
            throw new SizeException(Failure.INVALID);
        }
        if (mul == 1) {
            if (valf.signum() != 0) {
                throw new SizeException(Failure.INVALID);
            }
            return val.longValue();
        }
        BigInteger m = BigInteger.valueOf(mul);
        // 64.64 fixed point times mul, rounded half up.
        BigInteger fixed = val.shiftLeft(64).add(valf).multiply(m);
        BigInteger result = fixed.add(BigInteger.ONE.shiftLeft(63)).shiftRight(64);
        if (result.compareTo(U64_MAX) > 0) {
            throw new SizeException(Failure.RANGE);
        }
        return result.longValue();
    }

    private static long parseHex(String text, int start) throws SizeException {
        int pos = start + 2;
        int n = text.length();
        int digits = pos;
        while (pos < n && Character.digit(text.charAt(pos), 16) >= 0 && text.charAt(pos) < 128) {
            pos++;
        }
        if (pos == digits) {
            // strtoull parses just the "0"; the 'x' is then trailing garbage.
            throw new SizeException(Failure.INVALID);
        }
        BigInteger v = new BigInteger(text.substring(digits, pos), 16);
        if (v.compareTo(U64_MAX) > 0) {
            throw new SizeException(Failure.RANGE);
        }
        if (pos < n && (text.charAt(pos) == '.' || suffix(text.charAt(pos)) > 0)) {
            throw new SizeException(Failure.INVALID);
        }
        if (pos != n) {
            throw new SizeException(Failure.INVALID);
        }
        return v.longValue();
    }

    private static long suffix(char c) {
        switch (Character.toUpperCase(c)) {
            case 'B': return 1;
            case 'K': return 1L << 10;
            case 'M': return 1L << 20;
            case 'G': return 1L << 30;
            case 'T': return 1L << 40;
            case 'P': return 1L << 50;
            case 'E': return 1L << 60;
            default: return -1;
        }
    }

    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x0b;
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
