package dev.strata.daemon.nbd.handshake;

import dev.strata.daemon.nbd.NbdSession;
import dev.strata.nbd.protocol.NbdOption;
import dev.strata.nbd.protocol.NbdServerHandshakeMessage;

/**
 * Answers one kind of negotiation option. Handlers write their replies through the
 * {@link Context} (the negotiation handler flushes once the option is answered) and say what the
 * session does next. They run on the channel's event loop and must not block: everything they
 * need (the registry, the image sizes) is in memory.
 *
 * @param <T> the option record handled
 */
public interface OptionHandler<T extends NbdOption> {

    /** What happens after an option has been answered. */
    enum Next {
        /** Stay in negotiation and read the next option. */
        CONTINUE,
        /** Enter transmission with {@link NbdSession#export()}. */
        TRANSMISSION,
        /** Close the connection once the replies are flushed. */
        CLOSE
    }

    /** The connection as an option handler sees it. */
    interface Context {
        NbdSession session();

        /** Queues one handshake message (option reply, export-name reply) for sending. */
        void send(NbdServerHandshakeMessage message);
    }

    /**
     * An export name for an error message: quoted, and cut to 256 characters so the message stays
     * under NBD's 4096-byte string limit whatever the client sent.
     */
    static String quoted(String name) {
        return "'" + (name.length() > 256 ? name.substring(0, 256) + "..." : name) + "'";
    }

    /** Answers {@code option}. */
    Next handle(T option, Context ctx);
}
