package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Client side of the handshake, inbound: turns the server's bytes into one
 * {@link NbdServerGreeting}, then {@link NbdOptionReply}s (or one {@link NbdExportNameReply}).
 *
 * <p>Design note — a state machine over {@link ByteToMessageDecoder}'s cumulation buffer:
 * <pre>
 *   GREETING (18 bytes) -> REPLY_HEADER (20 bytes) -> REPLY_DATA (length bytes) -> REPLY_HEADER ...
 *   expectExportNameReply(): REPLY_HEADER -> EXPORT_NAME_REPLY (10 or 134 bytes) -> DORMANT
 *   ACK to NBD_OPT_GO -> DORMANT (transmission follows; bytes stay buffered for the next decoder)
 *   any violation -> FAILED (NbdProtocolException once; later input dropped)
 * </pre>
 * The {@code NBD_OPT_EXPORT_NAME} reply carries no magic, so the client must announce it with
 * {@link #expectExportNameReply(boolean)} on the event loop before sending that option. Once
 * dormant the client replaces this handler with an {@link NbdReplyDecoder}; Netty forwards any
 * bytes buffered here to the replacement. Reply data longer than {@code maxReplyLength}
 * (default 1 MiB, far above anything a server legitimately sends) is a protocol error, so a
 * hostile server cannot make the client buffer without bound.
 */
public final class NbdHandshakeReplyDecoder extends ByteToMessageDecoder {

    /** Default for the largest option reply accepted. */
    public static final int DEFAULT_MAX_REPLY_LENGTH = 1024 * 1024;

    private enum State { GREETING, REPLY_HEADER, REPLY_DATA, EXPORT_NAME_REPLY, DORMANT, FAILED }

    private static final int REPLY_HEADER_LENGTH = 20;

    private final int maxReplyLength;
    private State state = State.GREETING;
    private boolean exportNamePadding;
    private int option;
    private int type;
    private int length;

    public NbdHandshakeReplyDecoder() {
        this(DEFAULT_MAX_REPLY_LENGTH);
    }

    public NbdHandshakeReplyDecoder(int maxReplyLength) {
        this.maxReplyLength = maxReplyLength;
    }

    /**
     * Announces that the next server bytes are the reply to {@code NBD_OPT_EXPORT_NAME}.
     * Call on the event loop, after the greeting was decoded and before sending the option.
     *
     * @param zeroPadding true unless {@code NBD_FLAG_C_NO_ZEROES} was negotiated
     */
    public void expectExportNameReply(boolean zeroPadding) {
        if (state != State.REPLY_HEADER) {
            throw new IllegalStateException("cannot expect an export name reply in state " + state);
        }
        exportNamePadding = zeroPadding;
        state = State.EXPORT_NAME_REPLY;
    }

    /** True once the handshake is over (GO acknowledged or export name reply decoded). */
    public boolean isDormant() {
        return state == State.DORMANT;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        try {
            switch (state) {
                case GREETING -> decodeGreeting(in, out);
                case REPLY_HEADER -> {
                    decodeReplyHeader(in, out);
                    // Zero-length data (ACK) must be handled now: ByteToMessageDecoder stops
                    // calling decode once the buffer is empty.
                    if (state == State.REPLY_DATA) {
                        decodeReplyData(in, out);
                    }
                }
                case REPLY_DATA -> decodeReplyData(in, out);
                case EXPORT_NAME_REPLY -> {
                    int needed = 10 + (exportNamePadding ? EXPORT_NAME_REPLY_PADDING : 0);
                    if (in.readableBytes() >= needed) {
                        long size = in.readLong();
                        int flags = in.readUnsignedShort();
                        in.skipBytes(needed - 10);
                        out.add(new NbdExportNameReply(size, flags, exportNamePadding));
                        state = State.DORMANT;
                    }
                }
                case DORMANT -> {
                    // Transmission bytes: left for the decoder that replaces this one.
                }
                case FAILED -> in.skipBytes(in.readableBytes());
            }
        } catch (NbdProtocolException e) {
            state = State.FAILED;
            in.skipBytes(in.readableBytes());
            throw e;
        }
    }

    private void decodeGreeting(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < NbdServerGreeting.LENGTH) {
            return;
        }
        long magic = in.readLong();
        if (magic != NBDMAGIC) {
            throw new NbdBadMagicException("server greeting", NBDMAGIC, magic);
        }
        long second = in.readLong();
        if (second == OLDSTYLE_MAGIC) {
            throw new NbdProtocolException("server uses oldstyle negotiation, which is not supported");
        }
        if (second != IHAVEOPT) {
            throw new NbdBadMagicException("newstyle greeting", IHAVEOPT, second);
        }
        out.add(new NbdServerGreeting(in.readUnsignedShort()));
        state = State.REPLY_HEADER;
    }

    private void decodeReplyHeader(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < REPLY_HEADER_LENGTH) {
            return;
        }
        long magic = in.readLong();
        if (magic != OPTION_REPLY_MAGIC) {
            throw new NbdBadMagicException("option reply", OPTION_REPLY_MAGIC, magic);
        }
        option = in.readInt();
        type = in.readInt();
        long dataLength = in.readUnsignedInt();
        if (dataLength > maxReplyLength) {
            throw new NbdProtocolException("option reply " + replyTypeName(type) + " to " + optionName(option)
                    + " announces " + dataLength + " bytes (limit " + maxReplyLength + ")");
        }
        length = (int) dataLength;
        state = State.REPLY_DATA;
    }

    private void decodeReplyData(ByteBuf in, List<Object> out) {
        if (in.readableBytes() >= length) {
            NbdOptionReply reply = parseReply(option, type, in.readSlice(length));
            out.add(reply);
            state = reply instanceof NbdOptionReply.Ack && option == OPT_GO ? State.DORMANT : State.REPLY_HEADER;
        }
    }

    /** Parses one option reply's data; package-private for tests. */
    static NbdOptionReply parseReply(int option, int type, ByteBuf data) {
        try {
            if (isErrorReplyType(type)) {
                byte[] message = new byte[data.readableBytes()];
                data.readBytes(message);
                return new NbdOptionReply.Error(option, type, lenientText(message));
            }
            return switch (type) {
                case REP_ACK -> {
                    expectLength(data, 0, type);
                    yield new NbdOptionReply.Ack(option);
                }
                case REP_SERVER -> {
                    if (data.readableBytes() < 4) {
                        throw new NbdProtocolException("NBD_REP_SERVER shorter than 4 bytes");
                    }
                    long nameLength = data.readUnsignedInt();
                    if (nameLength > data.readableBytes()) {
                        throw new NbdProtocolException("NBD_REP_SERVER name length " + nameLength + " exceeds reply");
                    }
                    String name = NbdWire.readString(data, (int) nameLength, "export name");
                    byte[] rest = new byte[data.readableBytes()];
                    data.readBytes(rest);
                    yield new NbdOptionReply.Server(option, name, NbdWire.decode(rest, "export description"));
                }
                case REP_INFO -> new NbdOptionReply.Info(option, parseInfo(data));
                case REP_META_CONTEXT -> {
                    if (data.readableBytes() < 4) {
                        throw new NbdProtocolException("NBD_REP_META_CONTEXT shorter than 4 bytes");
                    }
                    int id = data.readInt();
                    yield new NbdOptionReply.MetaContext(option, id,
                            NbdWire.readString(data, data.readableBytes(), "context name"));
                }
                default -> {
                    byte[] bytes = new byte[data.readableBytes()];
                    data.readBytes(bytes);
                    yield new NbdOptionReply.Unknown(option, type, bytes);
                }
            };
        } catch (IllegalArgumentException e) {
            throw new NbdProtocolException(replyTypeName(type) + " to " + optionName(option) + ": " + e.getMessage());
        }
    }

    private static NbdInfo parseInfo(ByteBuf data) {
        if (data.readableBytes() < 2) {
            throw new NbdProtocolException("NBD_REP_INFO shorter than 2 bytes");
        }
        int infoType = data.readUnsignedShort();
        return switch (infoType) {
            case INFO_EXPORT -> {
                expectLength(data, 10, REP_INFO);
                yield new NbdInfo.Export(data.readLong(), data.readUnsignedShort());
            }
            case INFO_NAME -> new NbdInfo.Name(NbdWire.readString(data, data.readableBytes(), "export name"));
            case INFO_DESCRIPTION -> new NbdInfo.Description(
                    NbdWire.readString(data, data.readableBytes(), "export description"));
            case INFO_BLOCK_SIZE -> {
                expectLength(data, 12, REP_INFO);
                yield new NbdInfo.BlockSize(data.readUnsignedInt(), data.readUnsignedInt(), data.readUnsignedInt());
            }
            default -> {
                byte[] bytes = new byte[data.readableBytes()];
                data.readBytes(bytes);
                yield new NbdInfo.Unknown(infoType, bytes);
            }
        };
    }

    private static void expectLength(ByteBuf data, int expected, int type) {
        if (data.readableBytes() != expected) {
            throw new NbdProtocolException(replyTypeName(type) + " payload has " + data.readableBytes()
                    + " bytes, expected " + expected);
        }
    }

    /** Error messages are for humans: show them even if a server sends sloppy bytes. */
    private static String lenientText(byte[] bytes) {
        return new String(bytes, java.nio.charset.StandardCharsets.UTF_8).replace('\0', ' ');
    }
}
