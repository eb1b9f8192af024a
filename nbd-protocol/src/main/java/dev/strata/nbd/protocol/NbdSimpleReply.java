package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.ReferenceCounted;

import java.util.Objects;

/**
 * A simple reply: magic {@code 0x67446698}, 32-bit error, 64-bit cookie, and — for a
 * successful {@code NBD_CMD_READ} — exactly the requested number of data bytes.
 *
 * <p>Zero-copy: the server may send the header with an empty {@code data} and then write the
 * data itself as the next message(s) on the channel, e.g. a {@link io.netty.channel.FileRegion};
 * see {@link NbdReplyEncoder}. Reference counting is delegated to {@code data} as in
 * {@link NbdRequest}.
 *
 * @param error 0 for success, else an NBD error number ({@link NbdErrno})
 * @param data  READ data, or empty
 */
public record NbdSimpleReply(long cookie, int error, ByteBuf data) implements NbdReply, ReferenceCounted {

    /** Wire size of the simple reply header. */
    public static final int HEADER_LENGTH = 16;

    public NbdSimpleReply {
        Objects.requireNonNull(data, "data");
        if (error != 0 && data.isReadable()) {
            throw new IllegalArgumentException("an error reply carries no data");
        }
    }

    /** A reply without data (success if {@code error} is 0). */
    public NbdSimpleReply(long cookie, int error) {
        this(cookie, error, Unpooled.EMPTY_BUFFER);
    }

    @Override
    public int refCnt() {
        return data.refCnt();
    }

    @Override
    public NbdSimpleReply retain() {
        data.retain();
        return this;
    }

    @Override
    public NbdSimpleReply retain(int increment) {
        data.retain(increment);
        return this;
    }

    @Override
    public NbdSimpleReply touch() {
        data.touch();
        return this;
    }

    @Override
    public NbdSimpleReply touch(Object hint) {
        data.touch(hint);
        return this;
    }

    @Override
    public boolean release() {
        return data.release();
    }

    @Override
    public boolean release(int decrement) {
        return data.release(decrement);
    }

    @Override
    public String toString() {
        return "NbdSimpleReply[cookie=" + cookie + " error=" + error + " data=" + data.readableBytes() + "B]";
    }
}
