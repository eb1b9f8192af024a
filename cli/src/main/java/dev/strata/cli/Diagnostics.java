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

    /** glibc's strerror text for an engine error kind ({@link ErrorKind#strerror}); EIO's for none. */
    public static String strerror(ErrorKind kind) {
        return kind == null ? ErrorKind.EIO.strerror() : kind.strerror();
    }
}
