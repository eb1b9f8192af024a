package dev.strata.nbd.protocol;

/**
 * A transmission-phase message from the server: a simple reply or one structured reply chunk.
 * {@link NbdReplyEncoder} writes these; {@link NbdReplyDecoder} produces them on the client.
 */
public sealed interface NbdReply permits NbdSimpleReply, NbdReplyChunk {

    /** The cookie of the request this answers. */
    long cookie();
}
