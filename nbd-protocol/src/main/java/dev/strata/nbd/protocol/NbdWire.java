package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Byte-level helpers shared by the codecs: NBD strings and unsigned field checks.
 *
 * <p>An NBD string is UTF-8, not NUL-terminated, contains no NUL, and is at most
 * {@link NbdConstants#MAX_STRING_LENGTH} bytes; its length always comes from elsewhere in
 * the message. {@link #readString} enforces all of that and reports a violation with an
 * {@link IllegalArgumentException} whose message the decoders turn into their own error
 * (an {@code Invalid} option on the server, a protocol error on the client).
 */
final class NbdWire {
    private NbdWire() {
    }

    /** UTF-8 bytes of {@code s} (no length prefix). */
    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Reads {@code length} bytes as a strict NBD string, advancing the reader index.
     *
     * @throws IllegalArgumentException if too long, not UTF-8, or containing NUL
     */
    static String readString(ByteBuf in, int length, String what) {
        if (length < 0 || length > NbdConstants.MAX_STRING_LENGTH) {
            throw new IllegalArgumentException(what + " length " + Integer.toUnsignedString(length)
                    + " exceeds " + NbdConstants.MAX_STRING_LENGTH);
        }
        if (length > in.readableBytes()) {
            throw new IllegalArgumentException(what + " length " + length + " runs past the end of the data");
        }
        byte[] bytes = new byte[length];
        in.readBytes(bytes);
        return decode(bytes, what);
    }

    /** Decodes bytes as a strict NBD string of any length (used for free-text descriptions). */
    static String decode(byte[] bytes, String what) {
        for (byte b : bytes) {
            if (b == 0) {
                throw new IllegalArgumentException(what + " contains NUL");
            }
        }
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException(what + " is not valid UTF-8");
        }
    }

    /**
     * Checks a string we are about to send.
     *
     * @return its UTF-8 bytes
     * @throws IllegalArgumentException if longer than the NBD limit or containing NUL
     */
    static byte[] checkedString(String s, String what) {
        byte[] bytes = utf8(s);
        if (bytes.length > NbdConstants.MAX_STRING_LENGTH) {
            throw new IllegalArgumentException(what + " is " + bytes.length + " bytes; NBD allows "
                    + NbdConstants.MAX_STRING_LENGTH);
        }
        if (s.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(what + " contains NUL");
        }
        return bytes;
    }

    /** Checks that {@code value} fits an unsigned 32-bit field. */
    static long checkU32(long value, String what) {
        if (value < 0 || value > 0xffff_ffffL) {
            throw new IllegalArgumentException(what + " " + value + " does not fit 32 unsigned bits");
        }
        return value;
    }

    /** Checks that {@code value} fits an unsigned 16-bit field. */
    static int checkU16(int value, String what) {
        if (value < 0 || value > 0xffff) {
            throw new IllegalArgumentException(what + " " + value + " does not fit 16 unsigned bits");
        }
        return value;
    }
}
