package dev.strata.engine.format;

import dev.strata.engine.storage.Zeros;

import java.nio.ByteBuffer;

/**
 * The guest bytes of the layers below a layer that is being written: what copy-on-write
 * copies into a newly allocated cluster. Ranges past the end of a shorter backing layer, and
 * everything when there is no backing layer, read as zeros.
 */
@FunctionalInterface
public interface BackingReader {

    /** No backing layer: everything reads as zeros. */
    BackingReader NONE = (dst, offset) -> Zeros.fill(dst);

    /**
     * Fills {@code dst} (all of {@code dst.remaining()} bytes) with the bytes the backing chain
     * holds at guest offset {@code offset}.
     */
    void read(ByteBuffer dst, long offset);
}
