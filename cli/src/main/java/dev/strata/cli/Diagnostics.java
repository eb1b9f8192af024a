package dev.strata.cli;

import dev.strata.engine.ErrorKind;

/**
 * qemu-img's error idioms: {@code error_exit} (the message plus "Try '... --help' for more
 * information", exit 1) and {@code strerror} texts for engine error kinds.
 */
public final class Diagnostics {
    private Diagnostics() {
    }

    /** qemu-img's error_exit: reports {@code message}, points at --help, and returns 1. */
    public static int tryHelp(CliContext ctx, String message) {
        ctx.error(message);
        ctx.err().println("Try '" + ctx.programName() + " --help' for more information");
        return 1;
    }

    /** glibc's strerror text for an engine error kind. */
    public static String strerror(ErrorKind kind) {
        if (kind == null) {
            return "Input/output error";
        }
        return switch (kind) {
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
