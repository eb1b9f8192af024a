package dev.strata.nbd.protocol;

/**
 * The error numbers NBD allows in a simple reply's error field and in error chunks.
 *
 * <p>The wire values happen to equal Linux errno values; the spec restricts servers to this
 * set. {@link #of(int)} returns {@code null} for a value NBD does not define (a peer may still
 * send one), so callers keep the raw number for their messages.
 */
public enum NbdErrno {
    EPERM(NbdConstants.EPERM, "Operation not permitted"),
    EIO(NbdConstants.EIO, "Input/output error"),
    ENOMEM(NbdConstants.ENOMEM, "Cannot allocate memory"),
    EINVAL(NbdConstants.EINVAL, "Invalid argument"),
    ENOSPC(NbdConstants.ENOSPC, "No space left on device"),
    EOVERFLOW(NbdConstants.EOVERFLOW, "Value too large for defined data type"),
    ENOTSUP(NbdConstants.ENOTSUP, "Operation not supported"),
    ESHUTDOWN(NbdConstants.ESHUTDOWN, "Cannot send after transport endpoint shutdown");

    private final int code;
    private final String description;

    NbdErrno(int code, String description) {
        this.code = code;
        this.description = description;
    }

    /** The value sent on the wire. */
    public int code() {
        return code;
    }

    /** strerror-style text, as qemu prints it. */
    public String description() {
        return description;
    }

    /** The constant with this wire value, or {@code null} if NBD does not define it. */
    public static NbdErrno of(int code) {
        for (NbdErrno e : values()) {
            if (e.code == code) {
                return e;
            }
        }
        return null;
    }

    /** {@code "EIO (Input/output error)"}, or {@code "error 42"} for values NBD does not define. */
    public static String describe(int code) {
        NbdErrno e = of(code);
        return e == null ? "error " + code : e.name() + " (" + e.description + ")";
    }
}
