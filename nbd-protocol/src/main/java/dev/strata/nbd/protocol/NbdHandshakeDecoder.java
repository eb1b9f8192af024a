package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.ArrayList;
import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Server side of the handshake, inbound: turns the client's bytes into one
 * {@link NbdClientFlags} followed by {@link NbdOption}s.
 *
 * <p>Design note — a state machine over {@link ByteToMessageDecoder}'s cumulation buffer:
 * <pre>
 *   CLIENT_FLAGS (4 bytes) -> OPTION_HEADER (16 bytes) -> OPTION_DATA (length bytes) -> OPTION_HEADER ...
 *                                          \-> DISCARD (unknown or too-big option: skip bytes as they come)
 *   after ExportName / Go / StartTls / Abort -> PAUSED (bytes stay buffered, nothing decoded)
 *   bad IHAVEOPT magic -> FAILED (NbdBadMagicException thrown once; later input dropped)
 * </pre>
 * It never assumes a whole message per read: each state waits until its bytes are there.
 * Option data is buffered only up to {@link #maxOptionLength}; a longer option is reported as
 * {@link NbdOption.TooBig} as soon as its header arrives and its data is then dropped as it
 * streams in, so a hostile length costs no memory. Options this decoder does not parse are
 * reported as {@link NbdOption.Unknown} the same way.
 *
 * <p>Limit choice: the default {@value #DEFAULT_MAX_OPTION_LENGTH} bytes (64 KiB). A single NBD
 * string is at most 4096 bytes (qemu's {@code NBD_MAX_STRING_SIZE}); the largest legitimate
 * options are {@code NBD_OPT_SET/LIST_META_CONTEXT}, which carry an export name and several
 * queries, so 64 KiB admits fifteen maximal queries or hundreds of realistic ones while
 * keeping each connection's handshake buffer small. Strings over 4096 bytes inside an
 * accepted option give {@link NbdOption.Invalid}.
 *
 * <p>Pausing: after an option that may end negotiation ({@code EXPORT_NAME}, {@code GO}) or
 * change the transport ({@code STARTTLS}) or end the session ({@code ABORT}) the decoder stops.
 * The server then either
 * <ul>
 *   <li>enters transmission by replacing this handler, e.g.
 *       {@code pipeline.replace(this, "nbd-requests", new NbdRequestDecoder())} — Netty hands any
 *       bytes still buffered here to the replacement, so a client that pipelines its first
 *       request is served correctly; or</li>
 *   <li>stays in negotiation (GO failed, STARTTLS refused or done) and calls
 *       {@link #resumeOptions()} on the event loop.</li>
 * </ul>
 * The decoder validates layout only; policy (unknown client flags, option order, TLS) is the
 * server's.
 */
public final class NbdHandshakeDecoder extends ByteToMessageDecoder {

    /** Default for the largest option data buffered whole. */
    public static final int DEFAULT_MAX_OPTION_LENGTH = 64 * 1024;

    private enum State { CLIENT_FLAGS, OPTION_HEADER, OPTION_DATA, DISCARD, PAUSED, FAILED }

    private static final int OPTION_HEADER_LENGTH = 16;

    private final int maxOptionLength;
    private State state = State.CLIENT_FLAGS;
    private int optionCode;
    private long remaining;
    private ChannelHandlerContext context;

    /** A decoder with the default 64 KiB option limit. */
    public NbdHandshakeDecoder() {
        this(DEFAULT_MAX_OPTION_LENGTH);
    }

    /** @param maxOptionLength largest option data buffered whole (at least 4096 + 16) */
    public NbdHandshakeDecoder(int maxOptionLength) {
        if (maxOptionLength < MAX_STRING_LENGTH + 16) {
            throw new IllegalArgumentException("option limit " + maxOptionLength + " cannot hold a maximal export name");
        }
        this.maxOptionLength = maxOptionLength;
    }

    /** Largest option data this decoder buffers. */
    public int maxOptionLength() {
        return maxOptionLength;
    }

    /** True while stopped after ExportName/Go/StartTls/Abort. */
    public boolean isPaused() {
        return state == State.PAUSED;
    }

    /**
     * Continues option decoding after a pause (for example after an {@code NBD_OPT_GO} that the
     * server answered with an error). Must run on the channel's event loop; may be called from
     * inside a {@code channelRead} that this decoder is delivering. Bytes the client already sent
     * are decoded by the running decode loop or, failing that, by a task queued on the event loop
     * (never re-entrantly).
     */
    public void resumeOptions() {
        if (state != State.PAUSED) {
            return;
        }
        state = State.OPTION_HEADER;
        ChannelHandlerContext ctx = context;
        if (ctx != null) {
            ctx.executor().execute(() -> {
                if (!ctx.isRemoved() && state == State.OPTION_HEADER && internalBuffer().isReadable()) {
                    try {
                        channelRead(ctx, Unpooled.EMPTY_BUFFER);
                    } catch (Exception e) {
                        ctx.fireExceptionCaught(e);
                    }
                }
            });
        }
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        context = ctx;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        switch (state) {
            case CLIENT_FLAGS -> {
                if (in.readableBytes() >= 4) {
                    out.add(new NbdClientFlags(in.readInt()));
                    state = State.OPTION_HEADER;
                }
            }
            case OPTION_HEADER -> {
                decodeHeader(in, out);
                // Zero-length data must be handled now: ByteToMessageDecoder stops calling
                // decode once the buffer is empty.
                if (state == State.OPTION_DATA) {
                    decodeData(in, out);
                }
            }
            case OPTION_DATA -> decodeData(in, out);
            case DISCARD -> {
                int skip = (int) Math.min(remaining, in.readableBytes());
                in.skipBytes(skip);
                remaining -= skip;
                if (remaining == 0) {
                    state = State.OPTION_HEADER;
                }
            }
            case PAUSED -> {
                // Hold the bytes: they belong to whatever follows (transmission, TLS, more options).
            }
            case FAILED -> in.skipBytes(in.readableBytes());
        }
    }

    private void decodeHeader(ByteBuf in, List<Object> out) {
        if (in.readableBytes() < OPTION_HEADER_LENGTH) {
            return;
        }
        long magic = in.readLong();
        if (magic != IHAVEOPT) {
            state = State.FAILED;
            in.skipBytes(in.readableBytes());
            throw new NbdBadMagicException("option", IHAVEOPT, magic);
        }
        optionCode = in.readInt();
        long length = Integer.toUnsignedLong(in.readInt());
        if (!NbdOptionParser.parses(optionCode)) {
            out.add(new NbdOption.Unknown(optionCode, length));
            startDiscard(length);
        } else if (length > maxOptionLength) {
            out.add(new NbdOption.TooBig(optionCode, length));
            startDiscard(length);
        } else {
            remaining = length;
            state = State.OPTION_DATA;
        }
    }

    private void decodeData(ByteBuf in, List<Object> out) {
        if (in.readableBytes() >= remaining) {
            ByteBuf data = in.readSlice((int) remaining);
            NbdOption option = NbdOptionParser.parse(optionCode, data);
            out.add(option);
            state = pausesNegotiation(option) ? State.PAUSED : State.OPTION_HEADER;
        }
    }

    private void startDiscard(long length) {
        remaining = length;
        state = length == 0 ? State.OPTION_HEADER : State.DISCARD;
    }

    private static boolean pausesNegotiation(NbdOption option) {
        return option instanceof NbdOption.ExportName || option instanceof NbdOption.Go
                || option instanceof NbdOption.StartTls || option instanceof NbdOption.Abort;
    }

    /** Pure parsing of one option's data (package-private for the encoder round-trip tests). */
    static final class NbdOptionParser {
        private NbdOptionParser() {
        }

        static boolean parses(int code) {
            return switch (code) {
                case OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS, OPT_INFO, OPT_GO,
                        OPT_STRUCTURED_REPLY, OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> true;
                default -> false;
            };
        }

        /** Parses {@code data} (exactly the option's data) into a record or an {@link NbdOption.Invalid}. */
        static NbdOption parse(int code, ByteBuf data) {
            try {
                return switch (code) {
                    case OPT_EXPORT_NAME -> new NbdOption.ExportName(
                            NbdWire.readString(data, data.readableBytes(), "export name"));
                    case OPT_ABORT -> new NbdOption.Abort();
                    case OPT_LIST -> noData(data, new NbdOption.ListExports());
                    case OPT_STARTTLS -> noData(data, new NbdOption.StartTls());
                    case OPT_STRUCTURED_REPLY -> noData(data, new NbdOption.StructuredReply());
                    case OPT_INFO, OPT_GO -> parseInfoRequest(code, data);
                    case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> parseMetaContext(code, data);
                    default -> throw new IllegalStateException("not a parsed option: " + code);
                };
            } catch (IllegalArgumentException e) {
                return new NbdOption.Invalid(code, e.getMessage());
            }
        }

        private static NbdOption noData(ByteBuf data, NbdOption option) {
            if (data.isReadable()) {
                throw new IllegalArgumentException(optionName(option.code()) + " must not carry data");
            }
            return option;
        }

        private static NbdOption parseInfoRequest(int code, ByteBuf data) {
            // u32 name length, name, u16 count, count x u16
            if (data.readableBytes() < 6) {
                throw new IllegalArgumentException(optionName(code) + " data too short");
            }
            long nameLength = data.readUnsignedInt();
            if (nameLength > data.readableBytes() - 2) {
                throw new IllegalArgumentException("export name length " + nameLength + " exceeds option data");
            }
            String name = NbdWire.readString(data, (int) nameLength, "export name");
            int count = data.readUnsignedShort();
            if (data.readableBytes() != count * 2) {
                throw new IllegalArgumentException("information request count " + count
                        + " does not match the remaining " + data.readableBytes() + " bytes");
            }
            List<Integer> requests = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                requests.add(data.readUnsignedShort());
            }
            return code == OPT_GO ? new NbdOption.Go(name, requests) : new NbdOption.Info(name, requests);
        }

        private static NbdOption parseMetaContext(int code, ByteBuf data) {
            // u32 name length, name, u32 query count, count x (u32 length, query)
            String name = readSizedString(data, "export name");
            long count = readU32(data, "query count");
            if (count > data.readableBytes() / 4) {
                throw new IllegalArgumentException("query count " + count + " exceeds option data");
            }
            List<String> queries = new ArrayList<>((int) count);
            for (long i = 0; i < count; i++) {
                queries.add(readSizedString(data, "query"));
            }
            if (data.isReadable()) {
                throw new IllegalArgumentException(data.readableBytes() + " trailing bytes after the queries");
            }
            return code == OPT_SET_META_CONTEXT
                    ? new NbdOption.SetMetaContext(name, queries)
                    : new NbdOption.ListMetaContext(name, queries);
        }

        private static long readU32(ByteBuf data, String what) {
            if (data.readableBytes() < 4) {
                throw new IllegalArgumentException(what + " runs past the end of the data");
            }
            return data.readUnsignedInt();
        }

        private static String readSizedString(ByteBuf data, String what) {
            long length = readU32(data, what + " length");
            if (length > data.readableBytes()) {
                throw new IllegalArgumentException(what + " length " + length + " exceeds option data");
            }
            return NbdWire.readString(data, (int) length, what);
        }
    }
}
