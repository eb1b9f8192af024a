package dev.strata.engine.format;

import java.nio.ByteBuffer;

/**
 * One unit of guest data made ready for a compressed write ({@link LayerWriter#compress}): its
 * compressed bytes, or none when compression did not shrink it and it is stored as it is (as
 * qemu does). Preparing costs only CPU and writes nothing, so callers compress many units in
 * parallel and then write them ({@link LayerWriter#writeCompressed}) in the order they choose.
 *
 * @param guestOffset where the unit starts (aligned to the compressed unit)
 * @param plain       the guest bytes (position to limit); they must stay unchanged until the
 *                    unit is written
 * @param compressed  the compressed stream (its first {@code length} bytes), or null to store
 *                    {@code plain} uncompressed
 * @param length      bytes of {@code compressed} used; 0 when {@code compressed} is null
 */
public record CompressedUnit(long guestOffset, ByteBuffer plain, byte[] compressed, int length) {
    /** Whether the unit is stored uncompressed (its data did not shrink). */
    public boolean storedPlain() {
        return compressed == null;
    }
}
