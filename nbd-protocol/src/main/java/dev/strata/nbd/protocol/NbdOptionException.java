package dev.strata.nbd.protocol;

/**
 * The server answered a handshake option with an error reply ({@code NBD_REP_ERR_*}), e.g.
 * {@code NBD_REP_ERR_UNKNOWN} for an export that does not exist.
 */
public final class NbdOptionException extends NbdException {
    private static final long serialVersionUID = 1L;

    private final int option;
    private final int replyType;
    private final String serverMessage;

    public NbdOptionException(int option, int replyType, String serverMessage) {
        super(NbdConstants.optionName(option) + " failed: " + NbdConstants.replyTypeName(replyType)
                + (serverMessage.isEmpty() ? "" : ": " + serverMessage));
        this.option = option;
        this.replyType = replyType;
        this.serverMessage = serverMessage;
    }

    /** The option that failed ({@code NBD_OPT_*}). */
    public int option() {
        return option;
    }

    /** The error reply type ({@code NBD_REP_ERR_*}). */
    public int replyType() {
        return replyType;
    }

    /** The server's text, possibly empty. */
    public String serverMessage() {
        return serverMessage;
    }
}
