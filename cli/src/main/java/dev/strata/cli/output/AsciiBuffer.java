package dev.strata.cli.output;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * A growable byte buffer for ASCII output that is produced in bulk (one line per extent in
 * {@code map}): numbers are written as digits straight into bytes, constants are copied as
 * pre-encoded arrays, and the whole batch reaches the stream with one {@code write}. This skips
 * the String building and charset encoding that dominate a cold JVM's output of 100k+ lines.
 */
public final class AsciiBuffer {
    private static final byte[] TRUE = ascii("true");
    private static final byte[] FALSE = ascii("false");
    private static final byte[] LONG_MIN = ascii(Long.toString(Long.MIN_VALUE));

    private byte[] buf;
    private int len;
    private final byte[] digits = new byte[20];

    public AsciiBuffer(int capacity) {
        buf = new byte[Math.max(16, capacity)];
    }

    /** The ASCII bytes of {@code s} (callers keep them as constants). */
    public static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** Bytes held so far. */
    public int length() {
        return len;
    }

    public AsciiBuffer append(byte[] bytes) {
        ensure(bytes.length);
        System.arraycopy(bytes, 0, buf, len, bytes.length);
        len += bytes.length;
        return this;
    }

    public AsciiBuffer append(char c) {
        ensure(1);
        buf[len++] = (byte) c;
        return this;
    }

    public AsciiBuffer append(boolean b) {
        return append(b ? TRUE : FALSE);
    }

    /** Appends {@code v} in decimal, as {@link Long#toString(long)} would. */
    public AsciiBuffer append(long v) {
        if (v == Long.MIN_VALUE) {
            return append(LONG_MIN);
        }
        ensure(20);
        if (v < 0) {
            buf[len++] = '-';
            v = -v;
        }
        int n = 0;
        do {
            digits[n++] = (byte) ('0' + (int) (v % 10));
            v /= 10;
        } while (v != 0);
        while (n > 0) {
            buf[len++] = digits[--n];
        }
        return this;
    }

    /** Writes the held bytes to {@code out} and empties the buffer. */
    public void drainTo(PrintStream out) {
        out.write(buf, 0, len);
        len = 0;
    }

    /** The held bytes as text. */
    @Override
    public String toString() {
        return new String(buf, 0, len, StandardCharsets.US_ASCII);
    }

    private void ensure(int more) {
        if (len + more > buf.length) {
            byte[] bigger = new byte[Math.max(buf.length * 2, len + more)];
            System.arraycopy(buf, 0, bigger, 0, len);
            buf = bigger;
        }
    }
}
