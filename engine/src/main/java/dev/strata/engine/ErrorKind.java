package dev.strata.engine;

/**
 * The errno-like class of a {@link StrataException}. Each face maps it to its own error space:
 * the CLI to an exit code, NBD to an NBD error number, FUSE to a negative errno.
 */
public enum ErrorKind {
    /** Operation not permitted (e.g. a write to a read-only export). */
    EPERM(1),
    /** No such file or directory. */
    ENOENT(2),
    /** Input/output error: corrupt metadata, failed host I/O. */
    EIO(5),
    /** Permission denied by the host. */
    EACCES(13),
    /** Resource busy or locked by another user. */
    EBUSY(16),
    /** Invalid argument: out-of-range or malformed request, bad option. */
    EINVAL(22),
    /** File too large. */
    EFBIG(27),
    /** No space left on the host. */
    ENOSPC(28),
    /** Value too large for the requested operation. */
    EOVERFLOW(75),
    /** Operation not supported by this format or this build. */
    ENOTSUP(95);

    private final int errno;

    ErrorKind(int errno) {
        this.errno = errno;
    }

    /** The Linux errno value of this kind. */
    public int errno() {
        return errno;
    }

    /** glibc's strerror(3) text of this kind's errno, for qemu messages that end in one. */
    public String strerror() {
        return switch (this) {
            case EPERM -> "Operation not permitted";
            case ENOENT -> "No such file or directory";
            case EIO -> "Input/output error";
            case EACCES -> "Permission denied";
            case EBUSY -> "Device or resource busy";
            case EINVAL -> "Invalid argument";
            case EFBIG -> "File too large";
            case ENOSPC -> "No space left on device";
            case EOVERFLOW -> "Value too large for defined data type";
            case ENOTSUP -> "Operation not supported";
        };
    }
}
