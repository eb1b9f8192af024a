package dev.strata.nbd.protocol;

/**
 * The server answered a transmission request with an error: a simple reply with a nonzero
 * error, or an error chunk ({@code NBD_REPLY_TYPE_ERROR}, {@code NBD_REPLY_TYPE_ERROR_OFFSET},
 * or an unknown type with bit 15 set).
 */
public final class NbdCommandException extends NbdException {
    private static final long serialVersionUID = 1L;

    private final int command;
    private final int errno;
    private final String serverMessage;
    private final long errorOffset;

    /**
     * @param errorOffset the offset of an {@code ERROR_OFFSET} chunk, or -1
     */
    public NbdCommandException(int command, int errno, String serverMessage, long errorOffset) {
        super(NbdConstants.commandName(command) + " failed: " + NbdErrno.describe(errno)
                + (serverMessage.isEmpty() ? "" : ": " + serverMessage)
                + (errorOffset >= 0 ? " (at offset " + errorOffset + ")" : ""));
        this.command = command;
        this.errno = errno;
        this.serverMessage = serverMessage;
        this.errorOffset = errorOffset;
    }

    public int command() {
        return command;
    }

    /** The NBD error number ({@link NbdErrno#of(int)} names it). */
    public int errno() {
        return errno;
    }

    /** The server's text from an error chunk, possibly empty. */
    public String serverMessage() {
        return serverMessage;
    }

    /** Offset reported by {@code NBD_REPLY_TYPE_ERROR_OFFSET}, or -1. */
    public long errorOffset() {
        return errorOffset;
    }
}
