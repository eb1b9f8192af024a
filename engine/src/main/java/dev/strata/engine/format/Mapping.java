package dev.strata.engine.format;

import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/**
 * Where the bytes of one guest range live in one layer: the answer of
 * {@link FormatDriver#map}. Drivers only map; generic code does the byte loops and the block
 * status for every format.
 *
 * <p>Every variant but {@link Eof} has a length greater than zero.
 */
public sealed interface Mapping {

    /** Length of the guest range this mapping covers; 0 only for {@link Eof}. */
    long length();

    /**
     * The bytes are stored verbatim in {@code storage} at {@code hostOffset}.
     *
     * @param holes what block status does with holes in the host range
     */
    record Raw(Storage storage, long hostOffset, long length, HostHoles holes) implements Mapping {
        /** A raw range whose host holes are not looked at (qcow2 data clusters). */
        public static Raw of(Storage storage, long hostOffset, long length) {
            return new Raw(storage, hostOffset, length, HostHoles.IGNORE);
        }
    }

    /** How block status treats holes in the host range of a {@link Raw} mapping. */
    enum HostHoles {
        /** Do not look: the range is DATA (qcow2's normal clusters). */
        IGNORE,
        /**
         * The host file's own status is the answer: DATA for data, ZERO for holes (qemu's
         * BDRV_BLOCK_RAW, the raw format).
         */
        PASSTHROUGH,
        /**
         * DATA stays, and holes add ZERO (qemu's BDRV_BLOCK_RECURSE, metadata-preallocated qcow2).
         */
        MARK_ZERO
    }

    /**
     * The bytes are stored in a transformed form (compressed, encrypted) that only the driver
     * can decode; block status reports DATA without an offset, as QEMU does.
     *
     * @param compressed true for compression, false for encryption
     */
    record Coded(long length, boolean compressed, CodedReader reader) implements Mapping {
    }

    /**
     * The range reads as zeros in this layer.
     *
     * @param storage    where the range is preallocated (qcow2 zero-allocated clusters), or null
     * @param hostOffset host offset in {@code storage}; meaningful only when storage is non-null
     */
    record Zero(long length, Storage storage, long hostOffset) implements Mapping {
        /** A zero range with no host location. */
        public static Zero plain(long length) {
            return new Zero(length, null, 0);
        }
    }

    /**
     * The layer does not hold this range; look in the backing layer (zeros if there is none).
     *
     * @param storage    where a host cluster is nevertheless reserved for the range (qcow2
     *                   UNALLOCATED_ALLOC subclusters), or null; block status reports it as the
     *                   offset when the walk down the chain stops at this layer
     * @param hostOffset host offset in {@code storage}; meaningful only when storage is non-null
     */
    record Unallocated(long length, Storage storage, long hostOffset) implements Mapping {
        /** An unallocated range with no host location. */
        public Unallocated(long length) {
            this(length, null, 0);
        }
    }

    /** The offset is at or past the virtual size. */
    record Eof() implements Mapping {
        @Override
        public long length() {
            return 0;
        }
    }

    /** Decodes a {@link Coded} range. */
    @FunctionalInterface
    interface CodedReader {
        /**
         * Fills {@code dst} (exactly {@code dst.remaining()} bytes, at most the mapping's
         * length) with the guest bytes starting at the beginning of the mapped range plus
         * {@code skip}.
         */
        void read(ByteBuffer dst, long skip);
    }
}
