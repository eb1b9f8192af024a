package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToByteEncoder;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Server side of the handshake, outbound: writes {@link NbdServerGreeting},
 * {@link NbdOptionReply} and {@link NbdExportNameReply} in their exact wire layouts.
 *
 * <p>Stateless and {@link ChannelHandler.Sharable}. The static {@link #encode(NbdServerHandshakeMessage, ByteBuf)}
 * is the same code without a channel (tests, other transports). Handshake messages are small,
 * so each is written into one buffer. Records have already validated their field ranges.
 */
@ChannelHandler.Sharable
public final class NbdHandshakeEncoder extends MessageToByteEncoder<NbdServerHandshakeMessage> {

    public NbdHandshakeEncoder() {
        super(NbdServerHandshakeMessage.class);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, NbdServerHandshakeMessage msg, ByteBuf out) {
        encode(msg, out);
    }

    /** Appends the wire form of {@code msg} to {@code out}. */
    public static void encode(NbdServerHandshakeMessage msg, ByteBuf out) {
        if (msg instanceof NbdServerGreeting greeting) {
            out.writeLong(NBDMAGIC).writeLong(IHAVEOPT).writeShort(greeting.handshakeFlags());
        } else if (msg instanceof NbdExportNameReply reply) {
            out.writeLong(reply.size()).writeShort(reply.transmissionFlags());
            if (reply.zeroPadding()) {
                out.writeZero(EXPORT_NAME_REPLY_PADDING);
            }
        } else if (msg instanceof NbdOptionReply reply) {
            encodeOptionReply(reply, out);
        } else {
            throw new IllegalArgumentException("unknown handshake message " + msg);
        }
    }

    private static void encodeOptionReply(NbdOptionReply reply, ByteBuf out) {
        out.writeLong(OPTION_REPLY_MAGIC).writeInt(reply.option()).writeInt(reply.type());
        int lengthIndex = out.writerIndex();
        out.writeInt(0);
        int start = out.writerIndex();
        if (reply instanceof NbdOptionReply.Ack) {
            // no data
        } else if (reply instanceof NbdOptionReply.Server server) {
            byte[] name = NbdWire.checkedString(server.exportName(), "export name");
            out.writeInt(name.length).writeBytes(name);
            out.writeBytes(NbdWire.checkedString(server.description(), "export description"));
        } else if (reply instanceof NbdOptionReply.Info info) {
            encodeInfo(info.info(), out);
        } else if (reply instanceof NbdOptionReply.MetaContext context) {
            out.writeInt(context.contextId());
            out.writeBytes(NbdWire.checkedString(context.name(), "context name"));
        } else if (reply instanceof NbdOptionReply.Error error) {
            out.writeBytes(NbdWire.checkedString(error.message(), "error message"));
        } else if (reply instanceof NbdOptionReply.Unknown unknown) {
            out.writeBytes(unknown.data());
        }
        out.setInt(lengthIndex, out.writerIndex() - start);
    }

    private static void encodeInfo(NbdInfo info, ByteBuf out) {
        out.writeShort(info.type());
        if (info instanceof NbdInfo.Export export) {
            out.writeLong(export.size()).writeShort(export.transmissionFlags());
        } else if (info instanceof NbdInfo.Name name) {
            out.writeBytes(NbdWire.checkedString(name.name(), "export name"));
        } else if (info instanceof NbdInfo.Description description) {
            out.writeBytes(NbdWire.checkedString(description.description(), "export description"));
        } else if (info instanceof NbdInfo.BlockSize sizes) {
            out.writeInt((int) sizes.minimum()).writeInt((int) sizes.preferred()).writeInt((int) sizes.maximumPayload());
        } else if (info instanceof NbdInfo.Unknown unknown) {
            out.writeBytes(unknown.data());
        }
    }
}
