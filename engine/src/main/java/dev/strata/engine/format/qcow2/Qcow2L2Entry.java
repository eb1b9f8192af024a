package dev.strata.engine.format.qcow2;

/*
 * Design note: one L2 table entry, kept as its raw words, with decoders for every reading the
 * spec defines: standard descriptor (host offset, zero flag, OFLAG_COPIED), compressed
 * descriptor (host offset and byte length by the spec's sector formula) and, for extended L2
 * entries, the subcluster allocation and zero bitmaps. Classification follows qemu's
 * qcow2_get_cluster_type / qcow2_get_subcluster_type exactly, including the external data file
 * rule that offset 0 with OFLAG_COPIED is a real cluster.
 */

import java.nio.ByteBuffer;

/**
 * One L2 entry.
 *
 * @param entry  the 64-bit descriptor word
 * @param bitmap the subcluster allocation bitmap (extended L2 entries only; 0 otherwise)
 */
public record Qcow2L2Entry(long entry, long bitmap) {
    /** Bit 63: refcount is exactly one. */
    public static final long OFLAG_COPIED = 1L << 63;
    /** Bit 62: compressed cluster. */
    public static final long OFLAG_COMPRESSED = 1L << 62;
    /** Bit 0 of a standard descriptor: reads as zeros (v3 without extended L2 only). */
    public static final long OFLAG_ZERO = 1L;
    /** Host cluster offset bits 9..55 of a standard descriptor. */
    public static final long OFFSET_MASK = 0x00fffffffffffe00L;
    /** Reserved bits of a standard descriptor (1..8 and 56..61). */
    public static final long STD_RESERVED_MASK = 0x3f000000000001feL;
    /** Offset bits of an L1 entry. */
    public static final long L1_OFFSET_MASK = 0x00fffffffffffe00L;
    /** Reserved bits of an L1 entry. */
    public static final long L1_RESERVED_MASK = 0x7f000000000001ffL;
    /** All 32 allocation bits of an extended L2 bitmap. */
    public static final long ALL_ALLOC = 0xffffffffL;
    /** All 32 zero bits of an extended L2 bitmap. */
    public static final long ALL_ZERO = 0xffffffff00000000L;

    /**
     * Reads entry {@code index} of an L2 table or slice held in {@code table}.
     *
     * @param extended whether the table has 16-byte extended entries
     */
    public static Qcow2L2Entry at(ByteBuffer table, int index, boolean extended) {
        if (extended) {
            return new Qcow2L2Entry(table.getLong(index * 16), table.getLong(index * 16 + 8));
        }
        return new Qcow2L2Entry(table.getLong(index * 8), 0);
    }

    /** Whether bit 62 (compressed) is set. */
    public boolean isCompressed() {
        return (entry & OFLAG_COMPRESSED) != 0;
    }

    /** Whether bit 63 (OFLAG_COPIED, refcount exactly one) is set. */
    public boolean isCopied() {
        return (entry & OFLAG_COPIED) != 0;
    }

    /** Whether the zero flag (bit 0) is set on a standard descriptor. */
    public boolean zeroFlag() {
        return !isCompressed() && (entry & OFLAG_ZERO) != 0;
    }

    /** Host cluster offset of a standard descriptor (0 for none). */
    public long hostOffset() {
        return entry & OFFSET_MASK;
    }

    /** Subcluster allocation bits (bit x = subcluster x). */
    public int allocBitmap() {
        return (int) bitmap;
    }

    /** Subcluster zero bits (bit x = subcluster x). */
    public int zeroBitmap() {
        return (int) (bitmap >>> 32);
    }

    /** Bit position where the compressed sector count starts: 62 - (cluster_bits - 8). */
    public static int compressedSizeShift(int clusterBits) {
        return 62 - (clusterBits - 8);
    }

    /** Host byte offset of a compressed cluster's data (not aligned). */
    public long compressedHostOffset(int clusterBits) {
        return entry & ((1L << compressedSizeShift(clusterBits)) - 1);
    }

    /**
     * Length in bytes of a compressed cluster's data as the spec bounds it: (additional sectors
     * + 1) * 512 minus the offset of the data within its first sector.
     */
    public long compressedSize(int clusterBits) {
        long sectors = ((entry >>> compressedSizeShift(clusterBits)) & ((1L << (clusterBits - 8)) - 1)) + 1;
        return sectors * 512 - (compressedHostOffset(clusterBits) & 511);
    }

    /**
     * The cluster type as qemu's qcow2_get_cluster_type sees it, as a subcluster type of the
     * whole cluster: COMPRESSED, ZERO_PLAIN/ZERO_ALLOC (zero flag without extended L2),
     * UNALLOCATED_PLAIN (no offset) or NORMAL.
     *
     * @param extendedL2       whether the image has extended L2 entries
     * @param externalDataFile whether the image has an external data file (offset 0 with
     *                         OFLAG_COPIED is then a real cluster)
     */
    public Qcow2SubclusterType clusterType(boolean extendedL2, boolean externalDataFile) {
        return clusterType(entry, extendedL2, externalDataFile);
    }

    /**
     * {@link #clusterType(boolean, boolean)} of the descriptor {@code entry}, without an entry
     * object: scans over many entries call this once per entry, and before the JIT has compiled
     * them (the first block-status pass of every command) each call and allocation counts.
     */
    static Qcow2SubclusterType clusterType(long entry, boolean extendedL2, boolean externalDataFile) {
        if ((entry & OFLAG_COMPRESSED) != 0) {
            return Qcow2SubclusterType.COMPRESSED;
        }
        long offset = entry & OFFSET_MASK;
        if ((entry & OFLAG_ZERO) != 0 && !extendedL2) {
            return offset != 0 ? Qcow2SubclusterType.ZERO_ALLOC : Qcow2SubclusterType.ZERO_PLAIN;
        }
        if (offset == 0) {
            return externalDataFile && (entry & OFLAG_COPIED) != 0 ? Qcow2SubclusterType.NORMAL
                    : Qcow2SubclusterType.UNALLOCATED_PLAIN;
        }
        return Qcow2SubclusterType.NORMAL;
    }

    /**
     * The type of subcluster {@code index} (0..31; 0 without extended L2), as qemu's
     * qcow2_get_subcluster_type.
     */
    public Qcow2SubclusterType subclusterType(int index, boolean extendedL2, boolean externalDataFile) {
        Qcow2SubclusterType cluster = clusterType(extendedL2, externalDataFile);
        if (!extendedL2) {
            return cluster;
        }
        long allocBit = 1L << index;
        long zeroBit = 1L << (index + 32);
        switch (cluster) {
            case COMPRESSED:
                return Qcow2SubclusterType.COMPRESSED;
            case NORMAL:
                if (((bitmap >>> 32) & bitmap) != 0) {
                    return Qcow2SubclusterType.INVALID;
                } else if ((bitmap & zeroBit) != 0) {
                    return Qcow2SubclusterType.ZERO_ALLOC;
                } else if ((bitmap & allocBit) != 0) {
                    return Qcow2SubclusterType.NORMAL;
                }
                return Qcow2SubclusterType.UNALLOCATED_ALLOC;
            case UNALLOCATED_PLAIN:
                if ((bitmap & ALL_ALLOC) != 0) {
                    return Qcow2SubclusterType.INVALID;
                } else if ((bitmap & zeroBit) != 0) {
                    return Qcow2SubclusterType.ZERO_PLAIN;
                }
                return Qcow2SubclusterType.UNALLOCATED_PLAIN;
            default:
                throw new IllegalStateException("unexpected cluster type " + cluster);
        }
    }

    /**
     * How many subclusters starting at {@code from} have the same type as subcluster
     * {@code from} within this entry (qemu's qcow2_get_subcluster_range_type); the whole rest of
     * the cluster for entries without subclusters and for compressed ones. Returns -1 for an
     * INVALID entry.
     */
    public int subclusterRun(int from, boolean extendedL2, boolean externalDataFile) {
        Qcow2SubclusterType type = subclusterType(from, extendedL2, externalDataFile);
        if (type == Qcow2SubclusterType.INVALID) {
            return -1;
        }
        if (!extendedL2) {
            return 1 - from;
        }
        if (type == Qcow2SubclusterType.COMPRESSED) {
            return Qcow2Header.SUBCLUSTERS_PER_CLUSTER - from;
        }
        int below = from == 0 ? 0 : (int) ((1L << from) - 1);
        switch (type) {
            case NORMAL:
                return Integer.numberOfTrailingZeros(~(allocBitmap() | below)) - from;
            case ZERO_PLAIN:
            case ZERO_ALLOC:
                return Integer.numberOfTrailingZeros(~(zeroBitmap() | below)) - from;
            default: {
                int val = (zeroBitmap() | allocBitmap()) & ~below;
                return Integer.numberOfTrailingZeros(val) - from;
            }
        }
    }
}
