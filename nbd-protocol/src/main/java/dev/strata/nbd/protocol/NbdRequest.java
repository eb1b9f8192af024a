package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ReferenceCounted;

import java.util.Objects;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * One transmission request (compact 28-byte header): magic, 16-bit command flags, 16-bit
 * type, 64-bit cookie (the spec's former "handle"), 64-bit offset, 32-bit length, and for
 * {@code NBD_CMD_WRITE} the {@code length} bytes of data.
 *
 * <p>Reference counting: the record is {@link ReferenceCounted} through its payload, so
 * whoever ends up owning a decoded request releases it once (Netty's
 * {@code ReferenceCountUtil.release(msg)} works). Requests without data carry
 * {@link Unpooled#EMPTY_BUFFER}, for which retain/release are no-ops.
 *
 * @param flags   {@code NBD_CMD_FLAG_*} bits as sent (unknown bits preserved)
 * @param type    {@code NBD_CMD_*} code as sent (unknown codes preserved)
 * @param cookie  opaque value echoed in every reply
 * @param offset  unsigned 64-bit offset (compare with {@link Long#compareUnsigned} if the peer is hostile)
 * @param length  unsigned 32-bit length, 0..0xffffffff
 * @param payload the WRITE data ({@code length} readable bytes), otherwise empty
 */
public record NbdRequest(int flags, int type, long cookie, long offset, long length, ByteBuf payload)
        implements ReferenceCounted {

    /** Wire size of the compact request header. */
    public static final int HEADER_LENGTH = 28;

    public NbdRequest {
        NbdWire.checkU16(flags, "command flags");
        NbdWire.checkU16(type, "command type");
        NbdWire.checkU32(length, "request length");
        Objects.requireNonNull(payload, "payload");
        if (type == CMD_WRITE && payload.readableBytes() != length) {
            throw new IllegalArgumentException("WRITE payload has " + payload.readableBytes()
                    + " bytes but length is " + length);
        }
        if (type != CMD_WRITE && payload.isReadable()) {
            throw new IllegalArgumentException(NbdConstants.commandName(type) + " carries no payload");
        }
    }

    /** A request without data (everything but WRITE). */
    public NbdRequest(int flags, int type, long cookie, long offset, long length) {
        this(flags, type, cookie, offset, length, Unpooled.EMPTY_BUFFER);
    }

    /** A WRITE request; takes ownership of {@code data} (its readable bytes are the payload). */
    public static NbdRequest write(int flags, long cookie, long offset, ByteBuf data) {
        return new NbdRequest(flags, CMD_WRITE, cookie, offset, data.readableBytes(), data);
    }

    public boolean hasFlag(int flag) {
        return (flags & flag) != 0;
    }

    /** {@code NBD_CMD_READ}, {@code NBD_CMD_WRITE}... for logs. */
    public String commandName() {
        return NbdConstants.commandName(type);
    }

    @Override
    public int refCnt() {
        return payload.refCnt();
    }

    @Override
    public NbdRequest retain() {
        payload.retain();
        return this;
    }

    @Override
    public NbdRequest retain(int increment) {
        payload.retain(increment);
        return this;
    }

    @Override
    public NbdRequest touch() {
        payload.touch();
        return this;
    }

    @Override
    public NbdRequest touch(Object hint) {
        payload.touch(hint);
        return this;
    }

    @Override
    public boolean release() {
        return payload.release();
    }

    @Override
    public boolean release(int decrement) {
        return payload.release(decrement);
    }

    @Override
    public String toString() {
        return "NbdRequest[" + commandName() + " flags=0x" + Integer.toHexString(flags) + " cookie=" + cookie
                + " offset=" + Long.toUnsignedString(offset) + " length=" + length + "]";
    }
}
