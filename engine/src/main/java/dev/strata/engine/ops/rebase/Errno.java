package dev.strata.engine.ops.rebase;

import dev.strata.engine.StrataException;

/** strerror(3) of an engine error's kind, for qemu-img messages that end in one. */
final class Errno {
    private Errno() {
    }

    /** glibc's strerror text of {@code e}'s errno. */
    static String text(StrataException e) {
        switch (e.kind()) {
            case EPERM:
                return "Operation not permitted";
            case ENOENT:
                return "No such file or directory";
            case EACCES:
                return "Permission denied";
            case EBUSY:
                return "Device or resource busy";
            case EINVAL:
                return "Invalid argument";
            case EFBIG:
                return "File too large";
            case ENOSPC:
                return "No space left on device";
            case EOVERFLOW:
                return "Value too large for defined data type";
            case ENOTSUP:
                return "Operation not supported";
            case EIO:
            default:
                return "Input/output error";
        }
    }
}
