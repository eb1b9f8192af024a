package dev.strata.nbd.protocol;

import java.util.Objects;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * One fixed-newstyle option reply: magic {@code 0x3e889045565a9}, the option it answers,
 * the reply type, a 32-bit length and the data.
 *
 * <p>Design note: one record per reply type, each knowing its {@link #type()}. Every
 * error reply type (bit 31 set) is the single {@link Error} record, whose data is an
 * optional human-readable message, so the daemon can send any of them and the client can
 * report any of them, including ones from newer servers.
 */
public sealed interface NbdOptionReply extends NbdServerHandshakeMessage {

    /** The option code this reply answers (as the client sent it). */
    int option();

    /** The {@code NBD_REP_*} type on the wire. */
    int type();

    /** True for an error reply (bit 31). */
    default boolean isError() {
        return isErrorReplyType(type());
    }

    /** {@code NBD_REP_ACK}: success, or the end of a list. No data. */
    record Ack(int option) implements NbdOptionReply {
        @Override
        public int type() {
            return REP_ACK;
        }
    }

    /**
     * {@code NBD_REP_SERVER}: one export in a {@code NBD_OPT_LIST} answer.
     *
     * @param description free text after the name; empty if none
     */
    record Server(int option, String exportName, String description) implements NbdOptionReply {
        public Server {
            Objects.requireNonNull(exportName, "exportName");
            Objects.requireNonNull(description, "description");
        }

        @Override
        public int type() {
            return REP_SERVER;
        }
    }

    /** {@code NBD_REP_INFO}: one piece of export information for INFO/GO. */
    record Info(int option, NbdInfo info) implements NbdOptionReply {
        public Info {
            Objects.requireNonNull(info, "info");
        }

        @Override
        public int type() {
            return REP_INFO;
        }
    }

    /**
     * {@code NBD_REP_META_CONTEXT}: a context selected (SET, with a fresh id) or available
     * (LIST, id 0 which clients ignore).
     */
    record MetaContext(int option, int contextId, String name) implements NbdOptionReply {
        public MetaContext {
            Objects.requireNonNull(name, "name");
        }

        @Override
        public int type() {
            return REP_META_CONTEXT;
        }
    }

    /**
     * Any error reply ({@code NBD_REP_ERR_*}).
     *
     * @param type    the error type; must have bit 31 set
     * @param message text for a human, may be empty
     */
    record Error(int option, int type, String message) implements NbdOptionReply {
        public Error {
            if (!isErrorReplyType(type)) {
                throw new IllegalArgumentException("not an error reply type: " + replyTypeName(type));
            }
            Objects.requireNonNull(message, "message");
        }
    }

    /** A non-error reply type this code does not know (a client must treat it as a protocol error). */
    record Unknown(int option, int type, byte[] data) implements NbdOptionReply {
        public Unknown {
            data = data.clone();
        }

        @Override
        public byte[] data() {
            return data.clone();
        }
    }
}
