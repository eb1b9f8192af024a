package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Client side of transmission, inbound: turns the server's bytes into {@link NbdSimpleReply}s
 * and {@link NbdReplyChunk}s.
 *
 * <p>Design note — a state machine over {@link ByteToMessageDecoder}'s cumulation buffer:
 * <pre>
 *   HEADER: peek the 4-byte magic, then wait for 16 (simple) or 20 (structured) bytes
 *     simple, error 0, cookie of a pending READ -> SIMPLE_DATA (read length bytes) -> HEADER
 *     structured -> CHUNK_PAYLOAD (length bytes) -> HEADER
 *   bad magic or inconsistent chunk -> FAILED (NbdProtocolException once; input dropped after)
 * </pre>
 * A simple reply does not say whether data follows: only the request does. The decoder asks
 * {@link ReadLengths} (the client's table of pending requests) how many data bytes a
 * successful simple reply for a cookie carries (the READ length, else 0). Chunk payloads are
 * validated against the spec's length rules; {@code OFFSET_DATA} and simple-reply data are
 * emitted as retained slices that the receiver must release. Chunk payloads larger than
 * {@code maxChunkLength} are a protocol error, so a hostile server cannot make the client
 * buffer without bound.
 */
public final class NbdReplyDecoder extends ByteToMessageDecoder {

    /** Tells the decoder how much data follows a successful simple reply. */
    @FunctionalInterface
    public interface ReadLengths {
        /** Data bytes that follow a successful simple reply to {@code cookie}: the READ length, or 0. */
        long dataLength(long cookie);
    }

    /** Default for the largest structured chunk payload accepted (64 MiB). */
    public static final int DEFAULT_MAX_CHUNK_LENGTH = 64 * 1024 * 1024;

    private enum State { HEADER, SIMPLE_DATA, CHUNK_PAYLOAD, FAILED }

    private final ReadLengths readLengths;
    private final int maxChunkLength;
    private State state = State.HEADER;
    private long cookie;
    private int flags;
    private int type;
    private int length;

    public NbdReplyDecoder(ReadLengths readLengths) {
        this(readLengths, DEFAULT_MAX_CHUNK_LENGTH);
    }

    public NbdReplyDecoder(ReadLengths readLengths, int maxChunkLength) {
        this.readLengths = Objects.requireNonNull(readLengths, "readLengths");
        this.maxChunkLength = maxChunkLength;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        try {
            switch (state) {
                case HEADER -> {
                    decodeHeader(in, out);
                    // Zero-length payloads must be handled now: ByteToMessageDecoder stops
                    // calling decode once the buffer is empty.
                    if (state == State.CHUNK_PAYLOAD) {
                        decodeChunkPayload(in, out);
                    }
                }
                case SIMPLE_DATA -> {
                    if (in.readableBytes() >= length) {
                        out.add(new NbdSimpleReply(cookie, 0, in.readRetainedSlice(length)));
                        state = State.HEADER;
                    }
                }
                case CHUNK_PAYLOAD -> decodeChunkPayload(in, out);
                case FAILED -> in.skipBytes(in.readableBytes());
            }
        } catch (NbdProtocolException e) {
            state = State.FAILED;
            in.skipBytes(in.readableBytes());
            throw e;
        }
    }

    private void decodeHeader(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < 4) {
            return;
        }
        int magic = in.getInt(in.readerIndex());
        if (magic == SIMPLE_REPLY_MAGIC) {
            if (in.readableBytes() < NbdSimpleReply.HEADER_LENGTH) {
                return;
            }
            in.skipBytes(4);
            int error = in.readInt();
            cookie = in.readLong();
            long dataLength = error == 0 ? readLengths.dataLength(cookie) : 0;
            if (dataLength < 0 || dataLength > Integer.MAX_VALUE) {
                throw new NbdProtocolException("cannot receive " + dataLength + " bytes in one simple reply");
            }
            if (dataLength == 0) {
                out.add(new NbdSimpleReply(cookie, error));
            } else {
                length = (int) dataLength;
                state = State.SIMPLE_DATA;
            }
        } else if (magic == STRUCTURED_REPLY_MAGIC) {
            if (in.readableBytes() < NbdReplyChunk.HEADER_LENGTH) {
                return;
            }
            in.skipBytes(4);
            flags = in.readUnsignedShort();
            type = in.readUnsignedShort();
            cookie = in.readLong();
            long payloadLength = in.readUnsignedInt();
            if (payloadLength > maxChunkLength) {
                throw new NbdProtocolException(chunkTypeName(type) + " chunk announces " + payloadLength
                        + " bytes (limit " + maxChunkLength + ")");
            }
            length = (int) payloadLength;
            state = State.CHUNK_PAYLOAD;
        } else {
            throw new NbdBadMagicException("reply", Integer.toUnsignedLong(STRUCTURED_REPLY_MAGIC),
                    Integer.toUnsignedLong(magic));
        }
    }

    private void decodeChunkPayload(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < length) {
            return;
        }
        ByteBuf payload = in.readSlice(length);
        state = State.HEADER;
        out.add(parseChunk(cookie, flags, type, payload));
    }

    /** Parses one chunk payload (exactly {@code payload}'s readable bytes); package-private for tests. */
    static NbdReplyChunk parseChunk(long cookie, int flags, int type, ByteBuf payload) {
        try {
            return parseChecked(cookie, flags, type, payload);
        } catch (IllegalArgumentException e) {
            throw new NbdProtocolException(chunkTypeName(type) + ": " + e.getMessage());
        }
    }

    private static NbdReplyChunk parseChecked(long cookie, int flags, int type, ByteBuf payload) {
        int length = payload.readableBytes();
        switch (type) {
            case REPLY_TYPE_NONE -> {
                require(length == 0, "NBD_REPLY_TYPE_NONE with a payload of " + length + " bytes");
                require((flags & REPLY_FLAG_DONE) != 0, "NBD_REPLY_TYPE_NONE without NBD_REPLY_FLAG_DONE");
                return new NbdReplyChunk.None(cookie);
            }
            case REPLY_TYPE_OFFSET_DATA -> {
                require(length >= 9, "NBD_REPLY_TYPE_OFFSET_DATA payload of " + length + " bytes");
                long offset = payload.readLong();
                return new NbdReplyChunk.OffsetData(cookie, flags, offset, payload.readRetainedSlice(length - 8));
            }
            case REPLY_TYPE_OFFSET_HOLE -> {
                require(length == 12, "NBD_REPLY_TYPE_OFFSET_HOLE payload of " + length + " bytes");
                long offset = payload.readLong();
                long size = payload.readUnsignedInt();
                require(size != 0, "NBD_REPLY_TYPE_OFFSET_HOLE of size 0");
                return new NbdReplyChunk.OffsetHole(cookie, flags, offset, size);
            }
            case REPLY_TYPE_BLOCK_STATUS -> {
                require(length >= 12 && (length - 4) % 8 == 0,
                        "NBD_REPLY_TYPE_BLOCK_STATUS payload of " + length + " bytes");
                int contextId = payload.readInt();
                List<NbdExtent> extents = new ArrayList<>((length - 4) / 8);
                while (payload.isReadable()) {
                    long extentLength = payload.readUnsignedInt();
                    int status = payload.readInt();
                    require(extentLength != 0, "block status extent of length 0");
                    extents.add(new NbdExtent(extentLength, status));
                }
                return new NbdReplyChunk.BlockStatus(cookie, flags, contextId, extents);
            }
            case REPLY_TYPE_ERROR, REPLY_TYPE_ERROR_OFFSET -> {
                int fixed = type == REPLY_TYPE_ERROR ? 6 : 14;
                require(length >= fixed, chunkTypeName(type) + " payload of " + length + " bytes");
                int errno = payload.readInt();
                int messageLength = payload.readUnsignedShort();
                require(messageLength == length - fixed, chunkTypeName(type) + " message length " + messageLength
                        + " does not match payload of " + length + " bytes");
                require(errno != 0, chunkTypeName(type) + " with error 0");
                // The message is for humans: keep it readable even if a server embeds NUL.
                String message = payload.readCharSequence(messageLength, StandardCharsets.UTF_8).toString()
                        .replace('\0', '\ufffd');
                if (type == REPLY_TYPE_ERROR) {
                    return new NbdReplyChunk.Error(cookie, flags, errno, message);
                }
                return new NbdReplyChunk.ErrorOffset(cookie, flags, errno, message, payload.readLong());
            }
            default -> {
                byte[] bytes = new byte[length];
                payload.readBytes(bytes);
                return new NbdReplyChunk.Unknown(cookie, flags, type, bytes);
            }
        }
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new NbdProtocolException(message);
        }
    }
}
