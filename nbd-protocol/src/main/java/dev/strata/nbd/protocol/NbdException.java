package dev.strata.nbd.protocol;

import java.io.IOException;

/**
 * A failure of {@link NbdClient}: connection trouble, a timeout, a protocol violation by the
 * server, or (in the subclasses) an error the server reported.
 */
public class NbdException extends IOException {
    private static final long serialVersionUID = 1L;

    public NbdException(String message) {
        super(message);
    }

    public NbdException(String message, Throwable cause) {
        super(message, cause);
    }
}
