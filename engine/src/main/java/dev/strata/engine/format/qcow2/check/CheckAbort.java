package dev.strata.engine.format.qcow2.check;

import dev.strata.engine.ErrorKind;

/**
 * Thrown inside the checker where qemu's check functions return -errno: the check stops and
 * qemu-img only says "Check failed: REASON". Never escapes {@link Qcow2Checker}.
 */
final class CheckAbort extends Exception {
    private static final long serialVersionUID = 1L;

    final ErrorKind kind;
    final String reason;

    CheckAbort(ErrorKind kind, String reason) {
        super(reason, null, false, false);
        this.kind = kind;
        this.reason = reason;
    }

    static CheckAbort invalid() {
        return new CheckAbort(ErrorKind.EINVAL, "Invalid argument");
    }

    static CheckAbort io() {
        return new CheckAbort(ErrorKind.EIO, "Input/output error");
    }

    static CheckAbort tooLarge() {
        return new CheckAbort(ErrorKind.EFBIG, "File too large");
    }

    static CheckAbort outOfMemory() {
        return new CheckAbort(ErrorKind.EOVERFLOW, "Cannot allocate memory"); // no ENOMEM kind
    }
}
