package dev.strata.nbd.protocol;

/**
 * A message began with the wrong magic number: the stream is out of step (or the peer speaks
 * another protocol), so the connection must be closed without a reply.
 */
public final class NbdBadMagicException extends NbdProtocolException {
    private static final long serialVersionUID = 1L;

    private final long expected;
    private final long actual;

    public NbdBadMagicException(String where, long expected, long actual) {
        super("bad " + where + " magic 0x" + Long.toHexString(actual) + " (expected 0x"
                + Long.toHexString(expected) + ")");
        this.expected = expected;
        this.actual = actual;
    }

    /** The magic the decoder wanted. */
    public long expected() {
        return expected;
    }

    /** The value found on the wire. */
    public long actual() {
        return actual;
    }
}
