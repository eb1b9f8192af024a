package dev.strata.engine.format.qcow2;

/*
 * Design note: the few byte-level helpers every qcow2 parser needs. Reads go through Storage,
 * which zero-fills past the end of the file exactly like qemu's file driver does for reads
 * beyond EOF, so a truncated image parses the way qemu parses it (and fails with qemu's
 * messages rather than with a short-read error).
 */

import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** Positional reads of small, already bounded regions of a qcow2 file. */
final class HostReads {
    private HostReads() {
    }

    /** Reads {@code length} bytes at {@code offset} into a new big-endian heap buffer. */
    static ByteBuffer read(Storage file, long offset, int length) {
        ByteBuffer buf = ByteBuffer.allocate(length).order(ByteOrder.BIG_ENDIAN);
        file.read(buf, offset);
        buf.flip();
        return buf;
    }

    /** Reads {@code length} bytes at {@code offset} into a new array. */
    static byte[] bytes(Storage file, long offset, int length) {
        return read(file, offset, length).array();
    }

    /** Bytes as a C string: up to the first NUL, decoded as UTF-8 (qemu keeps raw bytes). */
    static String cString(byte[] data, int from, int length) {
        int end = from;
        while (end < from + length && data[end] != 0) {
            end++;
        }
        return new String(data, from, end - from, StandardCharsets.UTF_8);
    }

    /** Unsigned 32-bit value at {@code index}. */
    static long u32(ByteBuffer buf, int index) {
        return buf.getInt(index) & 0xffffffffL;
    }

    /** Unsigned 16-bit value at {@code index}. */
    static int u16(ByteBuffer buf, int index) {
        return buf.getShort(index) & 0xffff;
    }

    /** Unsigned 8-bit value at {@code index}. */
    static int u8(ByteBuffer buf, int index) {
        return buf.get(index) & 0xff;
    }
}
