package dev.strata.engine.format.qcow2;

/*
 * Design note: the few byte-level helpers every qcow2 parser needs. Reads go through Storage,
 * which zero-fills past the end of the file exactly like qemu's file driver does for reads
 * beyond EOF, so a truncated image parses the way qemu parses it (and fails with qemu's
 * messages rather than with a short-read error).
 *
 * Every read is first checked the way qemu's block layer checks a request (bdrv_check_request):
 * a negative offset or a range past BDRV_MAX_LENGTH fails with EIO before any I/O. Offsets come
 * from on-disk fields, so this is what keeps a hostile table offset from reaching the JDK (which
 * would throw IllegalArgumentException). Callers that have qemu's wording for a failed read
 * catch {@link Refused} and wrap it ("Could not read ...: Input/output error").
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** Positional reads of small, already bounded regions of a qcow2 file. */
final class HostReads {
    /** qemu's BDRV_MAX_LENGTH: INT64_MAX rounded down to 1 GiB. */
    static final long MAX_LENGTH = Long.MAX_VALUE & ~((1L << 30) - 1);
    /** strerror(EIO), the tail of qemu's messages for a refused read. */
    static final String EIO_TEXT = "Input/output error";

    /** A read qemu's block layer refuses (EIO); its message is {@link #EIO_TEXT}. */
    static final class Refused extends StrataException {
        private static final long serialVersionUID = 1L;

        Refused() {
            super(ErrorKind.EIO, EIO_TEXT);
        }
    }

    private HostReads() {
    }

    /** Whether qemu's block layer accepts a request of {@code length} bytes at {@code offset}. */
    static boolean readable(long offset, long length) {
        return offset >= 0 && length >= 0 && length <= MAX_LENGTH && offset <= MAX_LENGTH - length;
    }

    /**
     * Fails like qemu's bdrv_check_request when the range is not {@link #readable}.
     *
     * @throws Refused EIO "Input/output error"
     */
    static void check(long offset, long length) {
        if (!readable(offset, length)) {
            throw new Refused();
        }
    }

    /**
     * Reads {@code length} bytes at {@code offset} into a new big-endian heap buffer.
     *
     * @throws Refused EIO when qemu's block layer would refuse the range
     */
    static ByteBuffer read(Storage file, long offset, int length) {
        check(offset, length);
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
