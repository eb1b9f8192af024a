package dev.strata.engine.ops.create;

import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * QEMU's {@code qemu_strtosz}: a decimal or 0x-hex integer, an optional decimal fraction (which
 * needs a suffix other than b/B), an optional suffix b/B, k/K, M, G, T, P, E (powers of 1024).
 * The result is an unsigned 64-bit value (negative as a Java long when it is 2^63 or more).
 *
 * <p>Design note: the fraction is taken, as QEMU does, as a double scaled into 64.64 fixed
 * point and the product rounded half up, so "1.5k" or "0.1M" give QEMU's exact bytes.
 */
public final class QemuSizeText {
    private static final BigInteger U64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    /** Why a text is not a size. */
    public enum Failure {
        /** Not a size (QEMU's EINVAL). */
        INVALID,
        /** 2^64 or more (QEMU's ERANGE). */
        RANGE
    }

    /** A text that is not a size, with QEMU's reason. */
    public static final class NotASize extends Exception {
        private static final long serialVersionUID = 1L;
        private final Failure failure;

        NotASize(Failure failure) {
            super(failure.name());
            this.failure = failure;
        }

        /** QEMU's reason. */
        public Failure failure() {
            return failure;
        }
    }

    private QemuSizeText() {
    }

    /**
     * Parses all of {@code text} (trailing characters make it invalid).
     *
     * @return the size as an unsigned 64-bit value
     * @throws NotASize with {@link Failure#INVALID} or {@link Failure#RANGE}
     */
    public static long parse(String text) throws NotASize {
        int n = text.length();
        int pos = 0;
        while (pos < n && " \t\n\r\f\u000b".indexOf(text.charAt(pos)) >= 0) {
            pos++;
        }
        if (pos < n && text.charAt(pos) == '-') {
            throw new NotASize(Failure.INVALID);
        }
        if (pos < n && text.charAt(pos) == '+') {
            pos++;
        }
        int start = pos;
        pos = digitsEnd(text, pos);
        if (pos == start) {
            throw new NotASize(Failure.INVALID);
        }
        BigInteger whole = new BigInteger(text.substring(start, pos));
        if (whole.compareTo(U64_MAX) > 0) {
            throw new NotASize(Failure.RANGE);
        }
        if (whole.signum() == 0 && pos < n && (text.charAt(pos) == 'x' || text.charAt(pos) == 'X')) {
            return parseHex(text, pos + 1);
        }
        BigInteger fraction = BigInteger.ZERO;
        if (pos < n && text.charAt(pos) == '.') {
            int end = digitsEnd(text, pos + 1);
            if (end == pos + 1) {
                pos++;
            } else {
                if (end < n && (text.charAt(end) == 'e' || text.charAt(end) == 'E')) {
                    int e = end + 1;
                    if (e < n && (text.charAt(e) == '+' || text.charAt(e) == '-')) {
                        e++;
                    }
                    if (e < n && Character.isDigit(text.charAt(e))) {
                        throw new NotASize(Failure.INVALID);
                    }
                }
                double f = Double.parseDouble("0" + text.substring(pos, end));
                fraction = new BigDecimal(f * 0x1p64).toBigInteger().min(U64_MAX);
                pos = end;
            }
        }
        long multiplier = pos < n ? suffix(text.charAt(pos)) : -1;
        if (multiplier > 0) {
            pos++;
        } else {
            multiplier = 1;
        }
        if (pos != n) {
            throw new NotASize(Failure.INVALID);
        }
        if (multiplier == 1) {
            if (fraction.signum() != 0) {
                throw new NotASize(Failure.INVALID);
            }
            return whole.longValue();
        }
        BigInteger result = whole.shiftLeft(64).add(fraction).multiply(BigInteger.valueOf(multiplier))
                .add(BigInteger.ONE.shiftLeft(63)).shiftRight(64);
        if (result.compareTo(U64_MAX) > 0) {
            throw new NotASize(Failure.RANGE);
        }
        return result.longValue();
    }

    private static long parseHex(String text, int from) throws NotASize {
        int n = text.length();
        int pos = from;
        while (pos < n && text.charAt(pos) < 128 && Character.digit(text.charAt(pos), 16) >= 0) {
            pos++;
        }
        if (pos == from) {
            throw new NotASize(Failure.INVALID);
        }
        BigInteger v = new BigInteger(text.substring(from, pos), 16);
        if (v.compareTo(U64_MAX) > 0) {
            throw new NotASize(Failure.RANGE);
        }
        if (pos != n) {
            // A fraction or a suffix after hex digits is refused, as is any other trailing text.
            throw new NotASize(Failure.INVALID);
        }
        return v.longValue();
    }

    private static int digitsEnd(String text, int pos) {
        while (pos < text.length() && text.charAt(pos) >= '0' && text.charAt(pos) <= '9') {
            pos++;
        }
        return pos;
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
}
