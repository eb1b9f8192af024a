package dev.strata.cli.output;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;

/**
 * The few C printf conversions qemu-img output depends on, with glibc's rounding: the exact
 * binary value of the double, rounded half to even.
 */
public final class CFormat {
    private CFormat() {
    }

    /** {@code %.{precision}g} of {@code value} (non-negative, finite). */
    public static String g(double value, int precision) {
        if (value == 0) {
            return "0";
        }
        int p = precision == 0 ? 1 : precision;
        BigDecimal exact = new BigDecimal(value);
        BigDecimal rounded = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
        int exponent = rounded.precision() - rounded.scale() - 1;
        if (exponent < -4 || exponent >= p) {
            BigDecimal mantissa = rounded.movePointLeft(exponent);
            String m = stripZeros(mantissa.setScale(p - 1, RoundingMode.HALF_EVEN).toPlainString());
            String sign = exponent < 0 ? "-" : "+";
            int abs = Math.abs(exponent);
            return m + "e" + sign + (abs < 10 ? "0" : "") + abs;
        }
        return stripZeros(rounded.setScale(Math.max(0, p - 1 - exponent), RoundingMode.HALF_EVEN).toPlainString());
    }

    /** {@code %.{decimals}f} of {@code value} (finite). */
    public static String f(double value, int decimals) {
        return new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
    }

    /** {@code %#x}: "0" for zero, else "0x" and lower-case hex digits. */
    public static String alternateHex(long value) {
        return value == 0 ? "0" : "0x" + Long.toHexString(value);
    }

    private static String stripZeros(String s) {
        if (s.indexOf('.') < 0) {
            return s;
        }
        int end = s.length();
        while (s.charAt(end - 1) == '0') {
            end--;
        }
        if (s.charAt(end - 1) == '.') {
            end--;
        }
        return s.substring(0, end);
    }
}
