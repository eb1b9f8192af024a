package dev.strata.cli.output;

/**
 * QEMU's {@code size_to_str}: a byte count as {@code "%0.3g %sB"} with binary prefixes
 * ("64 MiB", "348 KiB", "2.19 MiB", "0 B"). The unit switches up once the value would print as
 * 1000 or more, as QEMU's does (it scales by 1000/1024 before taking the binary exponent).
 */
public final class HumanSize {
    private static final String[] SUFFIXES = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};

    private HumanSize() {
    }

    /** {@code size_to_str(value)}, {@code value} taken as unsigned. */
    public static String of(long value) {
        double v = unsigned(value);
        int i = (frexpExponent(v / (1000.0 / 1024.0)) - 1) / 10;
        long div = 1L << (i * 10);
        double d = v / div;
        return CFormat.g(d, 3) + " " + SUFFIXES[i] + "B";
    }

    /** The exponent frexp returns: x = m * 2^e with 0.5 <= m < 1 (0 for x = 0). */
    static int frexpExponent(double x) {
        if (x == 0) {
            return 0;
        }
        return Math.getExponent(x) + 1;
    }

    private static double unsigned(long v) {
        return v >= 0 ? v : new java.math.BigDecimal(Long.toUnsignedString(v)).doubleValue();
    }
}
