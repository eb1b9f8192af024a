package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Server side of transmission, inbound: turns the client's bytes into {@link NbdRequest}s
 * (and {@link NbdOversizedWrite} events).
 *
 * <p>Design note — a state machine over {@link ByteToMessageDecoder}'s cumulation buffer:
 * <pre>
 *   HEADER (28 bytes) --WRITE, length <= max--> PAYLOAD (length bytes) --> HEADER
 *          \--WRITE, length > max--> emit NbdOversizedWrite, DISCARD (length bytes, as they come) --> HEADER
 *          \--any other command--> emit NbdRequest --> HEADER
 *   magic != 0x25609513 -> FAILED (NbdBadMagicException once; later input dropped)
 * </pre>
 * Only compact headers are understood: Strata never negotiates extended headers, so the
 * extended request magic is a bad magic too. The decoder checks framing only — flags, command
 * codes, ranges and alignment are the server's to validate (it must answer unknown commands
 * with {@code NBD_EINVAL}, not close). A bad magic means the stream is out of step: the server
 * must close the connection when {@code exceptionCaught} sees {@link NbdBadMagicException}.
 *
 * <p>WRITE data is emitted as a retained slice of the cumulation buffer, so a request owns its
 * payload until released; the server releases each {@link NbdRequest} once done with it.
 */
public final class NbdRequestDecoder extends ByteToMessageDecoder {

    private enum State { HEADER, PAYLOAD, DISCARD, FAILED }

    private final int maxPayload;
    private State state = State.HEADER;
    private int flags;
    private long cookie;
    private long offset;
    private long remaining;

    /** A decoder accepting WRITE payloads up to {@link NbdConstants#DEFAULT_MAX_PAYLOAD} (32 MiB). */
    public NbdRequestDecoder() {
        this(DEFAULT_MAX_PAYLOAD);
    }

    /** @param maxPayload largest WRITE payload buffered; larger ones give {@link NbdOversizedWrite} */
    public NbdRequestDecoder(int maxPayload) {
        if (maxPayload < 1) {
            throw new IllegalArgumentException("maxPayload must be positive");
        }
        this.maxPayload = maxPayload;
    }

    public int maxPayload() {
        return maxPayload;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        switch (state) {
            case HEADER -> decodeHeader(in, out);
            case PAYLOAD -> {
                if (in.readableBytes() >= remaining) {
                    ByteBuf payload = in.readRetainedSlice((int) remaining);
                    out.add(new NbdRequest(flags, CMD_WRITE, cookie, offset, remaining, payload));
                    state = State.HEADER;
                }
            }
            case DISCARD -> {
                int skip = (int) Math.min(remaining, in.readableBytes());
                in.skipBytes(skip);
                remaining -= skip;
                if (remaining == 0) {
                    state = State.HEADER;
                }
            }
            case FAILED -> in.skipBytes(in.readableBytes());
        }
    }

    private void decodeHeader(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < NbdRequest.HEADER_LENGTH) {
            return;
        }
        int magic = in.readInt();
        if (magic != REQUEST_MAGIC) {
            state = State.FAILED;
            in.skipBytes(in.readableBytes());
            throw new NbdBadMagicException("request", Integer.toUnsignedLong(REQUEST_MAGIC), Integer.toUnsignedLong(magic));
        }
        int requestFlags = in.readUnsignedShort();
        int type = in.readUnsignedShort();
        long requestCookie = in.readLong();
        long requestOffset = in.readLong();
        long length = in.readUnsignedInt();
        if (type != CMD_WRITE) {
            out.add(new NbdRequest(requestFlags, type, requestCookie, requestOffset, length));
            return;
        }
        flags = requestFlags;
        cookie = requestCookie;
        offset = requestOffset;
        remaining = length;
        if (length > maxPayload) {
            out.add(new NbdOversizedWrite(requestFlags, requestCookie, requestOffset, length));
            state = State.DISCARD;
        } else if (length == 0) {
            out.add(new NbdRequest(requestFlags, CMD_WRITE, requestCookie, requestOffset, 0));
        } else {
            state = State.PAYLOAD;
        }
    }
}
