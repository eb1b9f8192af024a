package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.util.ReferenceCounted;

import java.util.List;
import java.util.Objects;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * One structured reply chunk: magic {@code 0x668e33ef}, 16-bit flags, 16-bit type, 64-bit
 * cookie, 32-bit payload length, payload.
 *
 * <p>Design note: one record per chunk type; each knows its wire {@link #type()}.
 * {@link OffsetDataHead} exists only for sending: it is the first 28 bytes of an
 * {@code OFFSET_DATA} chunk whose data the server writes next, itself, typically as a
 * {@link io.netty.channel.FileRegion} (see {@link NbdReplyEncoder}); the client decoder
 * always produces {@link OffsetData}. Records holding a {@link ByteBuf} delegate reference
 * counting to it.
 */
public sealed interface NbdReplyChunk extends NbdReply {

    /** Wire size of the chunk header (magic .. length). */
    int HEADER_LENGTH = 20;

    /** Chunk flags ({@link NbdConstants#REPLY_FLAG_DONE}; unknown bits preserved when decoded). */
    int flags();

    /** The {@code NBD_REPLY_TYPE_*} on the wire. */
    int type();

    /** True if this is the last chunk of its reply. */
    default boolean done() {
        return (flags() & REPLY_FLAG_DONE) != 0;
    }

    /** True for error chunks (type bit 15). */
    default boolean isError() {
        return isErrorChunkType(type());
    }

    /** {@code NBD_REPLY_TYPE_NONE}: always final, no payload. */
    record None(long cookie) implements NbdReplyChunk {
        @Override
        public int flags() {
            return REPLY_FLAG_DONE;
        }

        @Override
        public int type() {
            return REPLY_TYPE_NONE;
        }
    }

    /** {@code NBD_REPLY_TYPE_OFFSET_DATA}: {@code data} holds the export's bytes at {@code offset}. */
    record OffsetData(long cookie, int flags, long offset, ByteBuf data) implements NbdReplyChunk, ReferenceCounted {
        public OffsetData {
            Objects.requireNonNull(data, "data");
            checkDataLength(data.readableBytes());
        }

        @Override
        public int type() {
            return REPLY_TYPE_OFFSET_DATA;
        }

        @Override
        public int refCnt() {
            return data.refCnt();
        }

        @Override
        public OffsetData retain() {
            data.retain();
            return this;
        }

        @Override
        public OffsetData retain(int increment) {
            data.retain(increment);
            return this;
        }

        @Override
        public OffsetData touch() {
            data.touch();
            return this;
        }

        @Override
        public OffsetData touch(Object hint) {
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
            return "OffsetData[cookie=" + cookie + " flags=" + flags + " offset=" + offset
                    + " data=" + data.readableBytes() + "B]";
        }
    }

    /**
     * Send-only: header and offset of an {@code OFFSET_DATA} chunk announcing
     * {@code dataLength} bytes that the caller writes immediately afterwards on the same
     * channel (a {@link io.netty.channel.FileRegion} or {@link ByteBuf} of exactly that size).
     */
    record OffsetDataHead(long cookie, int flags, long offset, long dataLength) implements NbdReplyChunk {
        public OffsetDataHead {
            checkDataLength(dataLength);
        }

        @Override
        public int type() {
            return REPLY_TYPE_OFFSET_DATA;
        }
    }

    /** {@code NBD_REPLY_TYPE_OFFSET_HOLE}: {@code holeSize} bytes at {@code offset} read as zeroes. */
    record OffsetHole(long cookie, int flags, long offset, long holeSize) implements NbdReplyChunk {
        public OffsetHole {
            NbdWire.checkU32(holeSize, "hole size");
            if (holeSize == 0) {
                throw new IllegalArgumentException("hole size must not be zero");
            }
        }

        @Override
        public int type() {
            return REPLY_TYPE_OFFSET_HOLE;
        }
    }

    /** {@code NBD_REPLY_TYPE_BLOCK_STATUS}: consecutive extents from the request offset, for one context. */
    record BlockStatus(long cookie, int flags, int contextId, List<NbdExtent> extents) implements NbdReplyChunk {
        public BlockStatus {
            extents = List.copyOf(extents);
            if (extents.isEmpty()) {
                throw new IllegalArgumentException("a block status chunk needs at least one extent");
            }
            NbdWire.checkU32(4L + (long) NbdExtent.WIRE_LENGTH * extents.size(), "block status payload");
        }

        @Override
        public int type() {
            return REPLY_TYPE_BLOCK_STATUS;
        }
    }

    /** {@code NBD_REPLY_TYPE_ERROR}: the request failed; {@code message} may be empty. */
    record Error(long cookie, int flags, int errno, String message) implements NbdReplyChunk {
        public Error {
            checkError(errno, message);
        }

        @Override
        public int type() {
            return REPLY_TYPE_ERROR;
        }
    }

    /** {@code NBD_REPLY_TYPE_ERROR_OFFSET}: the request failed at {@code offset}. */
    record ErrorOffset(long cookie, int flags, int errno, String message, long offset) implements NbdReplyChunk {
        public ErrorOffset {
            checkError(errno, message);
        }

        @Override
        public int type() {
            return REPLY_TYPE_ERROR_OFFSET;
        }
    }

    /**
     * A chunk type this code does not know. If {@link #isError()}, the spec says the reply
     * failed but the connection may go on; otherwise the client must disconnect.
     */
    record Unknown(long cookie, int flags, int type, byte[] payload) implements NbdReplyChunk {
        public Unknown {
            NbdWire.checkU16(type, "chunk type");
            payload = payload.clone();
        }

        @Override
        public byte[] payload() {
            return payload.clone();
        }
    }

    private static void checkDataLength(long length) {
        if (length < 1 || length > 0xffff_ffffL - 8) {
            throw new IllegalArgumentException("OFFSET_DATA must carry 1 .. 2^32-9 bytes, not " + length);
        }
    }

    private static void checkError(int errno, String message) {
        if (errno == 0) {
            throw new IllegalArgumentException("an error chunk needs a nonzero error");
        }
        Objects.requireNonNull(message, "message");
        NbdWire.checkedString(message, "error message");
    }
}
