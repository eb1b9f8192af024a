package dev.strata.nbd.protocol;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Hand assembly of wire bytes for tests, field by field as the spec draws them (big-endian,
 * explicit widths), so expected bytes never come from the code under test.
 */
final class WireBytes {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    static WireBytes wire() {
        return new WireBytes();
    }

    WireBytes u8(int v) {
        out.write(v);
        return this;
    }

    WireBytes u16(int v) {
        return u8(v >>> 8).u8(v);
    }

    WireBytes u32(long v) {
        return u16((int) (v >>> 16) & 0xffff).u16((int) v & 0xffff);
    }

    WireBytes u64(long v) {
        return u32(v >>> 32).u32(v & 0xffff_ffffL);
    }

    WireBytes ascii(String s) {
        return bytes(s.getBytes(StandardCharsets.US_ASCII));
    }

    WireBytes utf8(String s) {
        return bytes(s.getBytes(StandardCharsets.UTF_8));
    }

    WireBytes bytes(byte[] b) {
        out.write(b, 0, b.length);
        return this;
    }

    WireBytes zeros(int n) {
        return bytes(new byte[n]);
    }

    byte[] build() {
        return out.toByteArray();
    }
}
