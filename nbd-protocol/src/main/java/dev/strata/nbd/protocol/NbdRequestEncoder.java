package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToMessageEncoder;

import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Client side of transmission, outbound: writes {@link NbdRequest}s as compact 28-byte headers,
 * followed by the WRITE payload passed on as its own (retained) buffer, never copied.
 * Stateless and {@link ChannelHandler.Sharable}.
 */
@ChannelHandler.Sharable
public final class NbdRequestEncoder extends MessageToMessageEncoder<NbdRequest> {

    public NbdRequestEncoder() {
        super(NbdRequest.class);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, NbdRequest msg, List<Object> out) {
        out.add(encodeHeader(msg, ctx.alloc()));
        if (msg.payload().isReadable()) {
            out.add(msg.payload().retain());
        }
    }

    /** The 28-byte header of {@code request}. */
    public static ByteBuf encodeHeader(NbdRequest request, ByteBufAllocator alloc) {
        return alloc.buffer(NbdRequest.HEADER_LENGTH)
                .writeInt(REQUEST_MAGIC)
                .writeShort(request.flags())
                .writeShort(request.type())
                .writeLong(request.cookie())
                .writeLong(request.offset())
                .writeInt((int) request.length());
    }
}
