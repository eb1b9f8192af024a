package dev.strata.nbd.protocol;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * The client's side of fixed-newstyle negotiation, as a straight sequence of blocking steps
 * over an {@link NbdClientChannel}.
 *
 * <p>Design note — the order follows what qemu and libnbd do:
 * <ol>
 *   <li>greeting; reply with {@code FIXED_NEWSTYLE} (+ {@code NO_ZEROES} if offered); a server
 *       without fixed newstyle is refused;</li>
 *   <li>{@code NBD_OPT_STRUCTURED_REPLY} (an error reply just means simple replies);</li>
 *   <li>{@code NBD_OPT_SET_META_CONTEXT} for the requested queries, if structured replies are on;</li>
 *   <li>{@code NBD_OPT_GO} asking for {@code NBD_INFO_BLOCK_SIZE}; on {@code NBD_REP_ERR_UNSUP}
 *       fall back to {@code NBD_OPT_EXPORT_NAME}.</li>
 * </ol>
 * {@link #listExports} and {@link #listMetaContexts} reuse steps 1-2 and end with
 * {@code NBD_OPT_ABORT}. Every reply must answer the option just sent; anything else is a
 * protocol violation.
 */
final class NbdClientHandshake {
    private final NbdClientChannel channel;
    private boolean noZeroes;

    private NbdClientHandshake(NbdClientChannel channel) {
        this.channel = channel;
    }

    /** Runs the whole negotiation for {@code exportName} and switches the channel to transmission. */
    static NbdExportInfo negotiate(NbdClientChannel channel, String exportName, NbdClientOptions options)
            throws NbdException {
        NbdClientHandshake handshake = new NbdClientHandshake(channel);
        handshake.greet();
        boolean structured = options.structuredReplies() && handshake.structuredReplies();
        Map<Integer, String> contexts = structured && !options.metaContexts().isEmpty()
                ? handshake.setMetaContexts(exportName, options.metaContexts())
                : Map.of();
        NbdExportInfo info = handshake.go(exportName, structured, contexts);
        channel.enterTransmission();
        return info;
    }

    /** {@code NBD_OPT_LIST}: the server's exports (name, description), then abort. */
    static List<NbdOptionReply.Server> listExports(NbdClientChannel channel) throws NbdException {
        NbdClientHandshake handshake = new NbdClientHandshake(channel);
        handshake.greet();
        channel.send(new NbdOption.ListExports());
        List<NbdOptionReply.Server> exports = new ArrayList<>();
        while (true) {
            NbdOptionReply reply = handshake.reply(OPT_LIST);
            if (reply instanceof NbdOptionReply.Server server) {
                exports.add(server);
            } else if (reply instanceof NbdOptionReply.Ack) {
                break;
            } else {
                throw handshake.unexpected(reply);
            }
        }
        handshake.abort();
        return exports;
    }

    /** {@code NBD_OPT_LIST_META_CONTEXT} (after structured replies): context names, then abort. */
    static List<String> listMetaContexts(NbdClientChannel channel, String exportName, List<String> queries)
            throws NbdException {
        NbdClientHandshake handshake = new NbdClientHandshake(channel);
        handshake.greet();
        handshake.structuredReplies();
        channel.send(new NbdOption.ListMetaContext(exportName, queries));
        List<String> names = new ArrayList<>();
        while (true) {
            NbdOptionReply reply = handshake.reply(OPT_LIST_META_CONTEXT);
            if (reply instanceof NbdOptionReply.MetaContext context) {
                names.add(context.name());
            } else if (reply instanceof NbdOptionReply.Ack) {
                break;
            } else {
                throw handshake.unexpected(reply);
            }
        }
        handshake.abort();
        return names;
    }

    private void greet() throws NbdException {
        Object first = channel.receive();
        if (!(first instanceof NbdServerGreeting greeting)) {
            throw new NbdException("expected the server greeting, got " + first);
        }
        if (!greeting.fixedNewstyleOffered()) {
            throw new NbdException("server does not offer fixed newstyle negotiation");
        }
        noZeroes = greeting.noZeroesOffered();
        channel.send(new NbdClientFlags(FLAG_C_FIXED_NEWSTYLE | (noZeroes ? FLAG_C_NO_ZEROES : 0)));
    }

    private boolean structuredReplies() throws NbdException {
        channel.send(new NbdOption.StructuredReply());
        NbdOptionReply reply = reply(OPT_STRUCTURED_REPLY);
        if (reply instanceof NbdOptionReply.Ack) {
            return true;
        }
        if (reply instanceof NbdOptionReply.Error) {
            return false;
        }
        throw unexpected(reply);
    }

    private Map<Integer, String> setMetaContexts(String exportName, List<String> queries) throws NbdException {
        channel.send(new NbdOption.SetMetaContext(exportName, queries));
        Map<Integer, String> contexts = new LinkedHashMap<>();
        while (true) {
            NbdOptionReply reply = reply(OPT_SET_META_CONTEXT);
            if (reply instanceof NbdOptionReply.MetaContext context) {
                if (contexts.put(context.contextId(), context.name()) != null) {
                    throw new NbdException("server reused meta context id " + context.contextId());
                }
            } else if (reply instanceof NbdOptionReply.Ack) {
                return contexts;
            } else if (reply instanceof NbdOptionReply.Error) {
                // The spec: a failed SET leaves no context selected; carry on without block status.
                return Map.of();
            } else {
                throw unexpected(reply);
            }
        }
    }

    private NbdExportInfo go(String exportName, boolean structured, Map<Integer, String> contexts)
            throws NbdException {
        channel.send(new NbdOption.Go(exportName, List.of(INFO_BLOCK_SIZE)));
        NbdInfo.Export export = null;
        NbdInfo.BlockSize blockSize = null;
        while (true) {
            NbdOptionReply reply = reply(OPT_GO);
            if (reply instanceof NbdOptionReply.Info info) {
                if (info.info() instanceof NbdInfo.Export e) {
                    export = e;
                } else if (info.info() instanceof NbdInfo.BlockSize b) {
                    blockSize = b;
                }
                // Other info types (name, description, unknown) are ignored, as the spec requires.
            } else if (reply instanceof NbdOptionReply.Ack) {
                if (export == null) {
                    throw new NbdException("server acknowledged NBD_OPT_GO without NBD_INFO_EXPORT");
                }
                return new NbdExportInfo(exportName, export.size(), export.transmissionFlags(), blockSize,
                        structured, contexts);
            } else if (reply instanceof NbdOptionReply.Error error) {
                if (error.type() == REP_ERR_UNSUP) {
                    return exportName(exportName, structured, contexts);
                }
                throw new NbdOptionException(OPT_GO, error.type(), error.message());
            } else {
                throw unexpected(reply);
            }
        }
    }

    /** Old servers: {@code NBD_OPT_EXPORT_NAME}, whose only possible failure is a closed connection. */
    private NbdExportInfo exportName(String exportName, boolean structured, Map<Integer, String> contexts)
            throws NbdException {
        NbdHandshakeReplyDecoder decoder = channel.handshakeDecoder();
        boolean padding = !noZeroes;
        channel.onEventLoop(() -> decoder.expectExportNameReply(padding));
        channel.send(new NbdOption.ExportName(exportName));
        Object reply = channel.receive();
        if (!(reply instanceof NbdExportNameReply export)) {
            throw new NbdException("expected the NBD_OPT_EXPORT_NAME reply, got " + reply);
        }
        return new NbdExportInfo(exportName, export.size(), export.transmissionFlags(), null, structured, contexts);
    }

    private void abort() throws NbdException {
        channel.send(new NbdOption.Abort());
        // The server should ACK and close; older servers just close. Either is fine.
        try {
            channel.receive();
        } catch (NbdException ignored) {
            // closed without an ACK
        }
    }

    private NbdOptionReply reply(int option) throws NbdException {
        Object message = channel.receive();
        if (!(message instanceof NbdOptionReply reply)) {
            throw new NbdException("expected a reply to " + optionName(option) + ", got " + message);
        }
        if (reply.option() != option) {
            throw new NbdException("expected a reply to " + optionName(option) + ", got one to "
                    + optionName(reply.option()));
        }
        if (reply instanceof NbdOptionReply.Error error && error.type() == REP_ERR_SHUTDOWN) {
            throw new NbdOptionException(option, error.type(), error.message());
        }
        return reply;
    }

    private NbdException unexpected(NbdOptionReply reply) {
        if (reply instanceof NbdOptionReply.Error error) {
            return new NbdOptionException(reply.option(), error.type(), error.message());
        }
        return new NbdException("unexpected " + replyTypeName(reply.type()) + " in reply to " + optionName(reply.option()));
    }
}
