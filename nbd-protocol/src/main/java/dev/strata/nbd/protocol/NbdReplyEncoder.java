package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToMessageEncoder;

import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Server side of transmission, outbound: writes {@link NbdSimpleReply} and
 * {@link NbdReplyChunk} messages.
 *
 * <p>Design note — headers are encoded into a small fresh buffer and data buffers are passed
 * on untouched after it (retained), so READ data is never copied by the encoder. Anything
 * that is not an {@link NbdReply} (a {@link io.netty.channel.FileRegion}, a plain
 * {@link ByteBuf}) passes through unchanged, which is what makes zero-copy replies work:
 *
 * <pre>{@code
 * // structured reply, data straight from a file with sendfile(2):
 * ch.write(new NbdReplyChunk.OffsetDataHead(cookie, REPLY_FLAG_DONE, offset, count));
 * ch.writeAndFlush(new DefaultFileRegion(fileChannel, position, count));
 *
 * // simple reply (no structured replies negotiated), same idea:
 * ch.write(new NbdSimpleReply(cookie, 0));
 * ch.writeAndFlush(new DefaultFileRegion(fileChannel, position, length));
 * }</pre>
 *
 * Writes on one channel keep their order, and other replies can be interleaved only between
 * whole chunks, so the caller writes head and region back to back on the event loop (or from
 * one task). The region must hold exactly the announced number of bytes: if the file turns out
 * shorter the stream is corrupt and the connection must be closed. FileRegions bypass
 * {@code SslHandler}; with TLS in the pipeline send {@link NbdReplyChunk.OffsetData} with a
 * {@link ByteBuf} instead.
 *
 * <p>Stateless and {@link ChannelHandler.Sharable}.
 */
@ChannelHandler.Sharable
public final class NbdReplyEncoder extends MessageToMessageEncoder<NbdReply> {

    public NbdReplyEncoder() {
        super(NbdReply.class);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, NbdReply msg, List<Object> out) {
        out.add(encodeHeader(msg, ctx.alloc()));
        ByteBuf data = dataOf(msg);
        if (data != null && data.isReadable()) {
            out.add(data.retain());
        }
    }

    /**
     * Encodes everything of {@code msg} except bulk data: the whole message for most types; for
     * {@link NbdSimpleReply} and {@link NbdReplyChunk.OffsetData} the bytes before the data.
     */
    public static ByteBuf encodeHeader(NbdReply msg, ByteBufAllocator alloc) {
        if (msg instanceof NbdSimpleReply simple) {
            return alloc.buffer(NbdSimpleReply.HEADER_LENGTH)
                    .writeInt(SIMPLE_REPLY_MAGIC).writeInt(simple.error()).writeLong(simple.cookie());
        }
        NbdReplyChunk chunk = (NbdReplyChunk) msg;
        int payloadGuess = chunk instanceof NbdReplyChunk.BlockStatus status
                ? 4 + NbdExtent.WIRE_LENGTH * status.extents().size() : 16;
        ByteBuf out = alloc.buffer(NbdReplyChunk.HEADER_LENGTH + payloadGuess);
        out.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(chunk.flags()).writeShort(chunk.type()).writeLong(chunk.cookie());
        if (chunk instanceof NbdReplyChunk.None) {
            out.writeInt(0);
        } else if (chunk instanceof NbdReplyChunk.OffsetData data) {
            out.writeInt(8 + data.data().readableBytes()).writeLong(data.offset());
        } else if (chunk instanceof NbdReplyChunk.OffsetDataHead head) {
            out.writeInt((int) (8 + head.dataLength())).writeLong(head.offset());
        } else if (chunk instanceof NbdReplyChunk.OffsetHole hole) {
            out.writeInt(12).writeLong(hole.offset()).writeInt((int) hole.holeSize());
        } else if (chunk instanceof NbdReplyChunk.BlockStatus status) {
            out.writeInt(4 + NbdExtent.WIRE_LENGTH * status.extents().size()).writeInt(status.contextId());
            for (NbdExtent extent : status.extents()) {
                out.writeInt((int) extent.length()).writeInt(extent.flags());
            }
        } else if (chunk instanceof NbdReplyChunk.Error error) {
            byte[] message = NbdWire.utf8(error.message());
            out.writeInt(6 + message.length).writeInt(error.errno()).writeShort(message.length).writeBytes(message);
        } else if (chunk instanceof NbdReplyChunk.ErrorOffset error) {
            byte[] message = NbdWire.utf8(error.message());
            out.writeInt(14 + message.length).writeInt(error.errno()).writeShort(message.length).writeBytes(message)
                    .writeLong(error.offset());
        } else if (chunk instanceof NbdReplyChunk.Unknown unknown) {
            byte[] payload = unknown.payload();
            out.writeInt(payload.length).writeBytes(payload);
        }
        return out;
    }

    private static ByteBuf dataOf(NbdReply msg) {
        if (msg instanceof NbdSimpleReply simple) {
            return simple.data();
        }
        if (msg instanceof NbdReplyChunk.OffsetData data) {
            return data.data();
        }
        return null;
    }
}
