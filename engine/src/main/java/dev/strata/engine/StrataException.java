package dev.strata.engine;

/**
 * The one exception type of the engine. The message is user-facing and follows qemu's wording
 * where qemu has one (without the "qemu-img: " prefix, which the CLI adds); the kind says which
 * errno-like class the failure belongs to.
 */
public class StrataException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorKind kind;

    public StrataException(ErrorKind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public StrataException(ErrorKind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    /** The errno-like class of this failure. */
    public ErrorKind kind() {
        return kind;
    }

    /** Shorthand for an {@link ErrorKind#EIO} failure. */
    public static StrataException io(String message) {
        return new StrataException(ErrorKind.EIO, message);
    }

    /** Shorthand for an {@link ErrorKind#EINVAL} failure. */
    public static StrataException invalid(String message) {
        return new StrataException(ErrorKind.EINVAL, message);
    }

    /** Shorthand for an {@link ErrorKind#ENOTSUP} failure. */
    public static StrataException unsupported(String message) {
        return new StrataException(ErrorKind.ENOTSUP, message);
    }
}
