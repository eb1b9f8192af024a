package dev.strata.engine.ops.measure;

/**
 * Sizes of qcow2 metadata as qemu computes them for measure and preallocation:
 * {@code qcow2_calc_prealloc_size} (header, L2 and L1 tables and refcount structures of a fully
 * allocated image) and {@code qcow2_refcount_metadata_size} (the fixed point where refcount
 * blocks and table clusters also count themselves).
 */
public final class Qcow2SizeModel {
    private Qcow2SizeModel() {
    }

    /**
     * Bytes of a qcow2 file whose {@code virtualSize} bytes are all allocated.
     *
     * @param refcountOrder log2 of the refcount width in bits
     */
    public static long fullyAllocatedSize(long virtualSize, long clusterSize, int refcountOrder, boolean extendedL2) {
        long l2EntrySize = extendedL2 ? 16 : 8;
        long aligned = roundUp(virtualSize, clusterSize);
        long meta = clusterSize; // header
        long l2Entries = roundUp(Long.divideUnsigned(aligned, clusterSize), clusterSize / l2EntrySize);
        meta += l2Entries * l2EntrySize;
        long l1Entries = roundUp(l2Entries * l2EntrySize / clusterSize, clusterSize / 8);
        meta += l1Entries * 8;
        meta += refcountMetadataSize(Long.divideUnsigned(meta + aligned, clusterSize), clusterSize, refcountOrder);
        return meta + aligned;
    }

    /** Bytes of refcount blocks and refcount table that count {@code clusters} and themselves. */
    public static long refcountMetadataSize(long clusters, long clusterSize, int refcountOrder) {
        long blocksPerTableCluster = clusterSize / 8;
        long refcountsPerBlock = clusterSize * 8 / (1L << refcountOrder);
        long table = 0;
        long blocks = 0;
        long n = 0;
        long last;
        do {
            last = n;
            blocks = divRoundUp(clusters + table + blocks, refcountsPerBlock);
            table = divRoundUp(blocks, blocksPerTableCluster);
            n = clusters + blocks + table;
        } while (n != last);
        return (blocks + table) * clusterSize;
    }

    static long roundUp(long value, long alignment) {
        return divRoundUp(value, alignment) * alignment;
    }

    static long divRoundUp(long value, long divisor) {
        return Long.divideUnsigned(value + divisor - 1, divisor);
    }
}
