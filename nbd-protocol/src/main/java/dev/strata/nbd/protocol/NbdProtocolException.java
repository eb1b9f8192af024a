package dev.strata.nbd.protocol;

import io.netty.handler.codec.CorruptedFrameException;

/**
 * The peer broke the wire format in a way that leaves no safe way to continue: the only
 * correct reaction is a hard disconnect (close the channel).
 *
 * <p>Decoders throw it from {@code decode}; Netty delivers it unwrapped to
 * {@code exceptionCaught} because it is a {@link io.netty.handler.codec.DecoderException}.
 * After throwing, a decoder discards everything else it receives.
 */
public class NbdProtocolException extends CorruptedFrameException {
    private static final long serialVersionUID = 1L;

    public NbdProtocolException(String message) {
        super(message);
    }
}
