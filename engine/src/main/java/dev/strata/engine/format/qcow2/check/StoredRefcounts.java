package dev.strata.engine.format.qcow2.check;

/*
 * Design note: read-only access to the refcounts an image stores, the way qemu's
 * qcow2_get_refcount reads them: refcount table entry (index = cluster >> refcount_block_bits;
 * past the table or a zero entry means refcount 0), then the refcount block, then the entry of
 * the image's width (1, 2, 4 bits packed LSB-first; 8 bits; 16, 32, 64 bits big-endian).
 *
 * The refcount table is read once; its size was bounded by header validation (8 MiB at most).
 * Refcount blocks go through a small LRU cache sized in bytes, so sequential comparison reads each
 * block once and OFLAG_COPIED lookups hit the cache. Reads past EOF return zeros (as qemu's file
 * driver does), so a block pointer past the end reads as all-zero refcounts.
 */

import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

/** The refcounts stored in a qcow2 image. */
final class StoredRefcounts {
    /** Offset bits of a refcount table entry. */
    static final long REFT_OFFSET_MASK = 0xfffffffffffffe00L;
    /** Reserved bits of a refcount table entry. */
    static final long REFT_RESERVED_MASK = 0x1ffL;

    private static final long CACHE_BYTES = 16L << 20;

    private final Storage file;
    private final int clusterBits;
    private final int refcountOrder;
    private final int blockBits;
    private final long[] table;
    private final Map<Long, byte[]> cache;

    /**
     * A refcount block that cannot be read: qemu's block layer refuses requests beyond
     * BDRV_MAX_LENGTH (and negative offsets) with EIO, so the lookup fails quietly.
     */
    static final class UnreadableBlock extends Exception {
        private static final long serialVersionUID = 1L;

        UnreadableBlock() {
            super(null, null, false, false);
        }
    }

    /** A refcount block pointer that is not cluster aligned (qemu fails the lookup with EIO). */
    static final class UnalignedBlock extends Exception {
        private static final long serialVersionUID = 1L;
        final long blockOffset;
        final long tableIndex;

        UnalignedBlock(long blockOffset, long tableIndex) {
            super(null, null, false, false);
            this.blockOffset = blockOffset;
            this.tableIndex = tableIndex;
        }
    }

    /**
     * Loads the refcount table.
     *
     * @param tableOffset   host offset of the refcount table
     * @param tableEntries  number of 64-bit entries (refcount_table_clusters * cluster_size / 8)
     */
    StoredRefcounts(Storage file, int clusterBits, int refcountOrder, long tableOffset, int tableEntries) {
        this.file = file;
        this.clusterBits = clusterBits;
        this.refcountOrder = refcountOrder;
        this.blockBits = clusterBits - (refcountOrder - 3);
        this.table = new long[tableEntries];
        if (tableEntries > 0) {
            ByteBuffer buf = ByteBuffer.allocate(tableEntries * 8);
            file.read(buf, tableOffset);
            buf.flip();
            buf.asLongBuffer().get(table);
        }
        int capacity = (int) Math.max(4, CACHE_BYTES >> clusterBits);
        this.cache = new LinkedHashMap<>(capacity * 2, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<Long, byte[]> eldest) {
                return size() > capacity;
            }
        };
    }

    /** Number of refcount table entries. */
    int tableEntries() {
        return table.length;
    }

    /** Refcount table entry {@code index} as stored. */
    long tableEntry(int index) {
        return table[index];
    }

    /** Number of refcounts in one refcount block (as a power of two). */
    int blockBits() {
        return blockBits;
    }

    /**
     * The stored refcount of cluster {@code cluster} (unsigned for 64-bit widths).
     *
     * @throws UnalignedBlock when the refcount table points at an unaligned block
     * @throws UnreadableBlock when the block lies where qemu cannot read
     */
    long get(long cluster) throws UnalignedBlock, UnreadableBlock {
        byte[] block = blockAt(cluster >>> blockBits);
        if (block == null) {
            return 0;
        }
        long index = cluster & ((1L << blockBits) - 1);
        return entry(block, index, refcountOrder);
    }

    /**
     * The refcount block covering clusters {@code [tableIndex << blockBits, ...)}: null when the
     * table has no block there (all refcounts 0).
     *
     * @throws UnalignedBlock when the table entry is not cluster aligned
     * @throws UnreadableBlock when the block lies where qemu cannot read
     */
    byte[] blockAt(long tableIndex) throws UnalignedBlock, UnreadableBlock {
        if (tableIndex >= table.length) {
            return null;
        }
        long blockOffset = table[(int) tableIndex] & REFT_OFFSET_MASK;
        if (blockOffset == 0) {
            return null;
        }
        if ((blockOffset & ((1L << clusterBits) - 1)) != 0) {
            throw new UnalignedBlock(blockOffset, tableIndex);
        }
        if (!HostLimits.readable(blockOffset, 1L << clusterBits)) {
            throw new UnreadableBlock();
        }
        return block(blockOffset);
    }

    /** The refcount order (log2 of the width in bits). */
    int refcountOrder() {
        return refcountOrder;
    }

    private byte[] block(long offset) {
        byte[] block = cache.get(offset);
        if (block == null) {
            ByteBuffer buf = ByteBuffer.allocate(1 << clusterBits);
            file.read(buf, offset);
            block = buf.array();
            cache.put(offset, block);
        }
        return block;
    }

    /** Entry {@code index} of a refcount block of width 2^order bits. */
    static long entry(byte[] block, long index, int order) {
        switch (order) {
            case 0:
            case 1:
            case 2: {
                int bits = 1 << order;
                int perByte = 8 / bits;
                int b = block[(int) (index / perByte)] & 0xff;
                return (b >>> ((index % perByte) * bits)) & ((1 << bits) - 1);
            }
            case 3:
                return block[(int) index] & 0xff;
            case 4: {
                int i = (int) index * 2;
                return ((block[i] & 0xff) << 8) | (block[i + 1] & 0xff);
            }
            case 5: {
                int i = (int) index * 4;
                return ((long) (block[i] & 0xff) << 24) | ((block[i + 1] & 0xff) << 16)
                        | ((block[i + 2] & 0xff) << 8) | (block[i + 3] & 0xff);
            }
            case 6: {
                int i = (int) index * 8;
                long v = 0;
                for (int k = 0; k < 8; k++) {
                    v = (v << 8) | (block[i + k] & 0xff);
                }
                return v;
            }
            default:
                throw new IllegalArgumentException("refcount order " + order);
        }
    }

    /** Stores {@code value} as entry {@code index} of a refcount block of width 2^order bits. */
    static void put(byte[] block, long index, int order, long value) {
        if (order <= 2) {
            int bits = 1 << order;
            int perByte = 8 / bits;
            int at = (int) (index / perByte);
            int shift = (int) (index % perByte) * bits;
            int mask = ((1 << bits) - 1) << shift;
            block[at] = (byte) ((block[at] & ~mask) | (((int) value << shift) & mask));
            return;
        }
        int bytes = 1 << (order - 3);
        int at = (int) index * bytes;
        for (int k = bytes - 1; k >= 0; k--) {
            block[at + k] = (byte) value;
            value >>>= 8;
        }
    }
}
