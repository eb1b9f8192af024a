package dev.strata.nbd.protocol;

/**
 * The 32-bit client flags word that follows the server greeting.
 *
 * <p>The server must close the connection if a flag is set that it does not know or did not
 * offer ({@link #unknownBits(int)} helps check that).
 *
 * @param flags {@link NbdConstants#FLAG_C_FIXED_NEWSTYLE}, {@link NbdConstants#FLAG_C_NO_ZEROES}
 */
public record NbdClientFlags(int flags) implements NbdClientHandshakeMessage {

    public boolean fixedNewstyle() {
        return (flags & NbdConstants.FLAG_C_FIXED_NEWSTYLE) != 0;
    }

    public boolean noZeroes() {
        return (flags & NbdConstants.FLAG_C_NO_ZEROES) != 0;
    }

    /** Bits set by the client that the server did not offer in {@code offeredHandshakeFlags}. */
    public int unknownBits(int offeredHandshakeFlags) {
        int allowed = offeredHandshakeFlags & (NbdConstants.FLAG_C_FIXED_NEWSTYLE | NbdConstants.FLAG_C_NO_ZEROES);
        return flags & ~allowed;
    }
}
