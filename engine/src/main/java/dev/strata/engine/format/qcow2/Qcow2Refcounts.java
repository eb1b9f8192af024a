package dev.strata.engine.format.qcow2;

/*
 * Design note: read-only refcount lookups, just enough for qemu's metadata-preallocation
 * heuristic (qcow2_detect_metadata_preallocation): count clusters with a non-zero refcount until
 * there are clearly more of them than the host file has allocated. The refcount table is read
 * lazily (bounded by qemu's 8 MiB limit and by the file size) and one refcount block at a time
 * is kept, since the heuristic walks clusters in order. An unaligned refcount block is signalled
 * as a corruption, as qemu's qcow2_get_refcount does, even though the heuristic then just gives up.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/** Refcount lookups over the refcount table of an image. Not thread-safe; use per task. */
final class Qcow2Refcounts {
    /** Offset bits of a refcount table entry. */
    static final long REFT_OFFSET_MASK = 0xfffffffffffffe00L;

    private final Storage file;
    private final Qcow2CorruptionSignal signal;
    private final int clusterBits;
    private final int refcountOrder;
    private final int blockBits;
    private final long[] table;
    private final long tableSize;
    private long cachedBlockOffset = -1;
    private ByteBuffer cachedBlock;

    Qcow2Refcounts(Storage file, Qcow2Header header, Qcow2CorruptionSignal signal) {
        this.file = file;
        this.signal = signal;
        this.clusterBits = header.clusterBits();
        this.refcountOrder = (int) header.refcountOrder();
        this.blockBits = clusterBits - (refcountOrder - 3);
        long entries = header.refcountTableClusters() << (clusterBits - 3);
        // The refcount table is a table of 64-bit entries like L1; read it the same bounded way.
        this.table = Qcow2L1Table.parse(file, header.refcountTableOffset(), entries).stored();
        this.tableSize = entries;
    }

    /**
     * The refcount of host cluster {@code clusterIndex}.
     *
     * @throws StrataException EIO for an unaligned refcount block, after signalling the corruption
     */
    long refcount(long clusterIndex) {
        long blockOffset = blockOffset(clusterIndex >>> blockBits);
        if (blockOffset == 0) {
            return 0;
        }
        if (blockOffset != cachedBlockOffset) {
            cachedBlock = HostReads.read(file, blockOffset, 1 << clusterBits);
            cachedBlockOffset = blockOffset;
        }
        long index = clusterIndex & ((1L << blockBits) - 1);
        return entry(cachedBlock, index);
    }

    /**
     * The offset of the refcount block at {@code tableIndex}, 0 when there is none (past the
     * table, or unallocated).
     *
     * @throws StrataException EIO for a misaligned block, after signalling the corruption
     */
    private long blockOffset(long tableIndex) {
        if (tableIndex >= tableSize || tableIndex >= table.length) {
            return 0;
        }
        long blockOffset = table[(int) tableIndex] & REFT_OFFSET_MASK;
        if ((blockOffset & ((1L << clusterBits) - 1)) != 0) {
            throw signal.corruption("Refblock offset " + Qcow2ClusterMapper.hex(blockOffset)
                    + " unaligned (reftable index: " + Qcow2ClusterMapper.hex(tableIndex) + ")");
        }
        return blockOffset;
    }

    /**
     * What {@link #refcount} would fail on, for clusters {@code 0..endCluster-1} in order, without
     * reading a block: signals and throws for the first misaligned refcount block, stops quietly
     * at the first block qemu's block layer would refuse to read.
     *
     * @throws StrataException EIO for a misaligned refcount block, after signalling the corruption
     */
    private void checkBlocks(long endCluster) {
        long tables = endCluster == 0 ? 0 : ((endCluster - 1) >>> blockBits) + 1;
        for (long t = 0; t < tables; t++) {
            long blockOffset = blockOffset(t);
            if (blockOffset != 0 && !HostReads.readable(blockOffset, 1L << clusterBits)) {
                return;
            }
        }
    }

    private long entry(ByteBuffer block, long index) {
        int bits = 1 << refcountOrder;
        switch (bits) {
            case 64:
                return block.getLong((int) index * 8);
            case 32:
                return block.getInt((int) index * 4) & 0xffffffffL;
            case 16:
                return block.getShort((int) index * 2) & 0xffff;
            case 8:
                return block.get((int) index) & 0xff;
            default: {
                long bitIndex = index * bits;
                int b = block.get((int) (bitIndex >>> 3)) & 0xff;
                return (b >>> (bitIndex & 7)) & ((1 << bits) - 1);
            }
        }
    }

    /**
     * qemu's qcow2_detect_metadata_preallocation: true when clearly more clusters are in use
     * (non-zero refcount) than the host file has allocated, i.e. data clusters are reserved but
     * not written. Any failure (unknown allocation, corrupt refcounts) answers false, as qemu
     * treats errors as "not preallocated" (a corrupt refcount block is still signalled). When
     * the file has fewer clusters than the threshold, the answer is known without counting; one
     * difference remains, an I/O error reading a refcount block (which ends qemu's scan before a
     * later misaligned block is signalled) cannot happen here, as no block is read.
     */
    static boolean detectMetadataPreallocation(Storage file, Qcow2Header header, Qcow2CorruptionSignal signal) {
        try {
            long fileLength = file.size();
            long allocated = file.allocatedSize();
            if (allocated < 0) {
                return false;
            }
            long clusterSize = header.clusterSize();
            long realClusters = allocated / clusterSize;
            long threshold = Math.max(realClusters * 10 / 9, realClusters + 2);
            long endCluster = (fileLength + clusterSize - 1) / clusterSize;
            Qcow2Refcounts refcounts = new Qcow2Refcounts(file, header, signal);
            if (endCluster < threshold) {
                // The count cannot reach the threshold (the usual case: a file holding no
                // reserved, unwritten clusters). qemu still scans, so still signal what its scan
                // would meet, but from the table alone: 16k lookups per GiB saved.
                refcounts.checkBlocks(endCluster);
                return false;
            }
            long count = 0;
            for (long i = 0; i < endCluster && count < threshold; i++) {
                if (refcounts.refcount(i) != 0) {
                    count++;
                }
            }
            return count >= threshold;
        } catch (StrataException e) {
            return false;
        }
    }
}
