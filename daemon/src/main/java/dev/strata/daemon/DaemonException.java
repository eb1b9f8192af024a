package dev.strata.daemon;

/** A failure of the daemon itself (not of an image) with a one-line, user-facing message. */
public class DaemonException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DaemonException(String message) {
        super(message);
    }

    public DaemonException(String message, Throwable cause) {
        super(message, cause);
    }
}
