package dev.strata.nbd.protocol;

/**
 * The first 18 bytes of a newstyle session: {@code NBDMAGIC}, {@code IHAVEOPT}, 16-bit
 * handshake flags.
 *
 * @param handshakeFlags {@link NbdConstants#FLAG_FIXED_NEWSTYLE} | {@link NbdConstants#FLAG_NO_ZEROES}
 */
public record NbdServerGreeting(int handshakeFlags) implements NbdServerHandshakeMessage {
    /** Wire size of the greeting. */
    public static final int LENGTH = 18;

    public NbdServerGreeting {
        NbdWire.checkU16(handshakeFlags, "handshake flags");
    }

    /** The greeting Strata's server sends: fixed newstyle, and zero padding may be skipped. */
    public static NbdServerGreeting fixedNewstyle() {
        return new NbdServerGreeting(NbdConstants.FLAG_FIXED_NEWSTYLE | NbdConstants.FLAG_NO_ZEROES);
    }

    public boolean fixedNewstyleOffered() {
        return (handshakeFlags & NbdConstants.FLAG_FIXED_NEWSTYLE) != 0;
    }

    public boolean noZeroesOffered() {
        return (handshakeFlags & NbdConstants.FLAG_NO_ZEROES) != 0;
    }
}
