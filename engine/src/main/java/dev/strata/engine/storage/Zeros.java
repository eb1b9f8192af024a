package dev.strata.engine.storage;

import java.nio.ByteBuffer;

/** Zero bytes for buffers: one shared, never written array copied in bulk. */
public final class Zeros {
    private static final int CHUNK = 64 * 1024;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(CHUNK).asReadOnlyBuffer();

    private Zeros() {
    }

    /** Fills the remaining bytes of {@code dst} with zeros and advances its position to its limit. */
    public static void fill(ByteBuffer dst) {
        while (dst.hasRemaining()) {
            int n = Math.min(dst.remaining(), CHUNK);
            dst.put(ZEROS.duplicate().limit(n));
        }
    }
}
