package dev.strata.nbd.protocol;

import java.util.List;
import java.util.Objects;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * One client option of the fixed-newstyle handshake, as decoded by {@link NbdHandshakeDecoder}
 * (server) or written by {@link NbdOptionEncoder} (client).
 *
 * <p>Design note: the records mirror the spec's option data layouts one to one. Besides the
 * well-formed options there are three decoder verdicts the server must answer:
 * <ul>
 *   <li>{@link Unknown} — an option code this code does not parse (including
 *       {@code NBD_OPT_EXTENDED_HEADERS} and {@code NBD_OPT_PEEK_EXPORT}); its data was
 *       discarded. Answer {@code NBD_REP_ERR_UNSUP}.</li>
 *   <li>{@link TooBig} — the data length exceeded the decoder's limit; the data is being
 *       discarded as it arrives, never buffered. Answer {@code NBD_REP_ERR_TOO_BIG}
 *       (or hard-disconnect if it was {@code NBD_OPT_EXPORT_NAME}, which cannot fail).</li>
 *   <li>{@link Invalid} — a known option whose data breaks the layout (lengths that do not add
 *       up, data where none is allowed, a string over 4096 bytes, bad UTF-8, NUL).
 *       Answer {@code NBD_REP_ERR_INVALID} (hard-disconnect for {@code NBD_OPT_EXPORT_NAME}).</li>
 * </ul>
 * Lists are immutable copies; strings are the decoded UTF-8 text.
 */
public sealed interface NbdOption extends NbdClientHandshakeMessage {

    /** The option code on the wire ({@code NBD_OPT_*}). */
    int code();

    /** {@code NBD_OPT_INFO} and {@code NBD_OPT_GO}: same data, same replies. */
    sealed interface InfoRequest extends NbdOption permits Info, Go {
        /** Export asked for; empty means the default export. */
        String exportName();

        /** {@code NBD_INFO_*} codes the client asked for, in its order (16-bit values). */
        List<Integer> infoRequests();

        /** True if the client asked for {@code NBD_INFO_BLOCK_SIZE} (and so will honour it after GO). */
        default boolean requestsBlockSize() {
            return infoRequests().contains(INFO_BLOCK_SIZE);
        }
    }

    /** {@code NBD_OPT_LIST_META_CONTEXT} and {@code NBD_OPT_SET_META_CONTEXT}: same data layout. */
    sealed interface MetaContextRequest extends NbdOption permits ListMetaContext, SetMetaContext {
        String exportName();

        /** Query strings, each {@code namespace:leaf}; may be empty. */
        List<String> queries();
    }

    /** {@code NBD_OPT_EXPORT_NAME}: enter transmission; the server cannot send an error, only close. */
    record ExportName(String exportName) implements NbdOption {
        public ExportName {
            Objects.requireNonNull(exportName, "exportName");
        }

        @Override
        public int code() {
            return OPT_EXPORT_NAME;
        }
    }

    /** {@code NBD_OPT_ABORT}: the server acks and both sides close. Any data sent with it is ignored. */
    record Abort() implements NbdOption {
        @Override
        public int code() {
            return OPT_ABORT;
        }
    }

    /** {@code NBD_OPT_LIST}: zero or more {@code NBD_REP_SERVER}, then {@code NBD_REP_ACK}. */
    record ListExports() implements NbdOption {
        @Override
        public int code() {
            return OPT_LIST;
        }
    }

    /** {@code NBD_OPT_STARTTLS}. */
    record StartTls() implements NbdOption {
        @Override
        public int code() {
            return OPT_STARTTLS;
        }
    }

    /** {@code NBD_OPT_INFO}: describe an export, stay in negotiation. */
    record Info(String exportName, List<Integer> infoRequests) implements InfoRequest {
        public Info {
            Objects.requireNonNull(exportName, "exportName");
            infoRequests = List.copyOf(infoRequests);
        }

        @Override
        public int code() {
            return OPT_INFO;
        }
    }

    /** {@code NBD_OPT_GO}: describe an export and, on {@code NBD_REP_ACK}, enter transmission. */
    record Go(String exportName, List<Integer> infoRequests) implements InfoRequest {
        public Go {
            Objects.requireNonNull(exportName, "exportName");
            infoRequests = List.copyOf(infoRequests);
        }

        @Override
        public int code() {
            return OPT_GO;
        }
    }

    /** {@code NBD_OPT_STRUCTURED_REPLY}. */
    record StructuredReply() implements NbdOption {
        @Override
        public int code() {
            return OPT_STRUCTURED_REPLY;
        }
    }

    /** {@code NBD_OPT_LIST_META_CONTEXT}. */
    record ListMetaContext(String exportName, List<String> queries) implements MetaContextRequest {
        public ListMetaContext {
            Objects.requireNonNull(exportName, "exportName");
            queries = List.copyOf(queries);
        }

        @Override
        public int code() {
            return OPT_LIST_META_CONTEXT;
        }
    }

    /** {@code NBD_OPT_SET_META_CONTEXT}. */
    record SetMetaContext(String exportName, List<String> queries) implements MetaContextRequest {
        public SetMetaContext {
            Objects.requireNonNull(exportName, "exportName");
            queries = List.copyOf(queries);
        }

        @Override
        public int code() {
            return OPT_SET_META_CONTEXT;
        }
    }

    /**
     * An option this code does not parse. Decoded: its {@code length} data bytes were discarded.
     * Encoded (tests, probing): the header followed by {@code length} zero bytes.
     */
    record Unknown(int code, long length) implements NbdOption {
        public Unknown {
            NbdWire.checkU32(length, "option length");
        }
    }

    /** Decoder verdict: the option's data was longer than the limit and is being discarded. */
    record TooBig(int code, long length) implements NbdOption {
    }

    /** Decoder verdict: a known option with malformed data; {@code reason} is for the error reply. */
    record Invalid(int code, String reason) implements NbdOption {
    }
}
