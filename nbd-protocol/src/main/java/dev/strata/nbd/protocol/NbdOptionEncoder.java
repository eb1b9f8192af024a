package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.MessageToByteEncoder;

import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Client side of the handshake, outbound: writes {@link NbdClientFlags} (4 bytes) and
 * {@link NbdOption}s ({@code IHAVEOPT}, code, length, data).
 *
 * <p>{@link NbdOption.Unknown} is written as its header plus {@code length} zero bytes (handy
 * for probing servers); the decoder verdicts {@link NbdOption.TooBig} and
 * {@link NbdOption.Invalid} cannot be sent. Strings are checked against the NBD limits.
 * Stateless and {@link ChannelHandler.Sharable}.
 */
@ChannelHandler.Sharable
public final class NbdOptionEncoder extends MessageToByteEncoder<NbdClientHandshakeMessage> {

    public NbdOptionEncoder() {
        super(NbdClientHandshakeMessage.class);
    }

    @Override
    protected void encode(ChannelHandlerContext ctx, NbdClientHandshakeMessage msg, ByteBuf out) {
        encode(msg, out);
    }

    /** Appends the wire form of {@code msg} to {@code out}. */
    public static void encode(NbdClientHandshakeMessage msg, ByteBuf out) {
        if (msg instanceof NbdClientFlags flags) {
            out.writeInt(flags.flags());
            return;
        }
        NbdOption option = (NbdOption) msg;
        if (option instanceof NbdOption.TooBig || option instanceof NbdOption.Invalid) {
            throw new IllegalArgumentException("a decoder verdict cannot be sent: " + option);
        }
        out.writeLong(IHAVEOPT).writeInt(option.code());
        int lengthIndex = out.writerIndex();
        out.writeInt(0);
        int start = out.writerIndex();
        if (option instanceof NbdOption.ExportName exportName) {
            out.writeBytes(NbdWire.checkedString(exportName.exportName(), "export name"));
        } else if (option instanceof NbdOption.InfoRequest info) {
            writeSizedString(out, info.exportName(), "export name");
            out.writeShort(NbdWire.checkU16(info.infoRequests().size(), "information request count"));
            for (int request : info.infoRequests()) {
                out.writeShort(NbdWire.checkU16(request, "information request"));
            }
        } else if (option instanceof NbdOption.MetaContextRequest context) {
            writeSizedString(out, context.exportName(), "export name");
            List<String> queries = context.queries();
            out.writeInt(queries.size());
            for (String query : queries) {
                writeSizedString(out, query, "meta context query");
            }
        } else if (option instanceof NbdOption.Unknown unknown) {
            out.writeZero(Math.toIntExact(unknown.length()));
        }
        // Abort, ListExports, StartTls, StructuredReply: no data.
        out.setInt(lengthIndex, out.writerIndex() - start);
    }

    private static void writeSizedString(ByteBuf out, String s, String what) {
        byte[] bytes = NbdWire.checkedString(s, what);
        out.writeInt(bytes.length).writeBytes(bytes);
    }
}
