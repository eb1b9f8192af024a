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
    BackingReader NONE = new BackingReader() {
        @Override
        public void read(ByteBuffer dst, long offset) {
            Zeros.fill(dst);
        }

        @Override
        public boolean readsAsZeros(long offset, long length) {
            return true;
        }
    };

    /**
     * Fills {@code dst} (all of {@code dst.remaining()} bytes) with the bytes the backing chain
     * holds at guest offset {@code offset}.
     */
    void read(ByteBuffer dst, long offset);

    /**
     * Whether the chain below reads as zeros at [offset, offset+length) by block status (zero
     * or unallocated everywhere, or past the end of a shorter layer), as qemu's
     * bdrv_block_status_above says; not a content check. Without that knowledge: false.
     */
    default boolean readsAsZeros(long offset, long length) {
        return false;
    }
}
