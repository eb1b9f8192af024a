package dev.strata.engine.format.qcow2;

/*
 * Design note: the write side of the refcounts, following qemu's block/qcow2-refcount.c so that
 * images we lay out are the images qemu lays out (same allocation order, same growth points):
 *
 *  - allocate(n) is qcow2_alloc_clusters: scan for n free clusters from freeClusterIndex
 *    (alloc_clusters_noref), then add 1 to their refcounts (update_refcount). When a cluster has
 *    no refcount block yet, one is allocated (alloc_refcount_block): placed in the first free
 *    cluster, describing itself when it falls in its own range; when the refcount table is full
 *    too, a new self-covering table plus blocks is built after the last covered range
 *    (refcountArea, qcow2_refcount_area), written, switched in the header and the old table
 *    freed. Each of those steps restarts the allocation (qemu's -EAGAIN), since the new
 *    metadata may sit where the caller meant to put its data.
 *  - Blocks live in memory once read (they are small next to what they describe). Written
 *    through (the default), an update writes each touched block once, whole, before returning,
 *    so blocks are on disk before any L2/L1 entry that depends on them; the caller adds the
 *    flush barrier between the two when the cache mode honours flushes. Written back (the
 *    writer's mode, qemu's refcount block cache), an update only records the changed byte
 *    range of each block; {@link #writeDirty} writes them, and the {@link Ordering} the writer
 *    installs is told before every increment and decrement so that it can keep the on-disk
 *    order qemu's cache dependencies keep (increments before the L2 entries that use them,
 *    decrements after the L2 entries that stopped using them). Structural changes (a new
 *    refcount block, a new table) are always written at once, after every pending increment.
 *  - freeing (addend -1) lowers freeClusterIndex and reports clusters that reach zero, so the
 *    caller can punch them.
 *
 * Not thread-safe: the writer calls it under its metadata lock.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongConsumer;

/** Refcount table and blocks of an image opened for writing. */
final class Qcow2RefcountWriter {
    /** Offset of refcount_table_offset in the header (followed by refcount_table_clusters). */
    static final int HEADER_REFTABLE_FIELD = 48;
    /** qemu's QCOW_MAX_REFTABLE_SIZE in entries. */
    private static final long MAX_REFTABLE_ENTRIES = Qcow2Header.MAX_REFTABLE_BYTES / 8;

    /** Thrown internally where qemu returns -EAGAIN: metadata moved, search again. */
    private static final class Again extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Again() {
            super(null, null, false, false);
        }
    }

    private final Storage file;
    private final Qcow2CorruptionSignal signal;
    private final Runnable barrier;
    private final int clusterBits;
    private final long clusterSize;
    private final int refcountBits;
    private final long maxRefcount;
    private final int blockBits;
    private final long blockEntries;
    private final Map<Long, byte[]> blocks = new HashMap<>();
    /**
     * The block {@link #block} returned last and its offset (-1: none). Consecutive lookups
     * mostly stay in one block (a free-cluster search walks it entry by entry), and the map
     * boxes its key at every lookup. Forgotten wherever {@link #blocks} changes.
     */
    private long lastBlockOffset = -1;
    private byte[] lastBlock;
    private long[] table;
    private long tableOffset;
    private long freeClusterIndex;
    private long freeByteOffset;
    /** Told each freed cluster; null: nobody listens (no no-op lambda to link at every open). */
    private LongConsumer onFreed;
    /** Write-back: changed byte ranges {from, to} of blocks not yet written, by block offset. */
    private final Map<Long, int[]> dirty = new TreeMap<>();
    private boolean writeBack;
    private Ordering ordering = Ordering.NONE;

    /**
     * What the owner of a write-back refcount writer must do before refcounts change, so that
     * pending blocks can be written in a crash-safe order.
     */
    interface Ordering {
        /** No ordering (write-through). */
        Ordering NONE = new Ordering() {
            @Override
            public void beforeIncrement() {
            }

            @Override
            public void beforeDecrement() {
            }
        };

        /** Called before a refcount is raised. */
        void beforeIncrement();

        /** Called before a refcount is lowered. */
        void beforeDecrement();
    }

    /**
     * A barrier that does nothing: for refcounts edited where no crash ordering is owed (an image
     * being created, a standalone edit). A class, not a lambda: creation runs it in every convert
     * (see HostFiles.Binding on lambdas at start-up).
     */
    static final Runnable NO_BARRIER = new Runnable() {
        @Override
        public void run() {
            // nothing to order
        }
    };

    /**
     * Reads the refcount table of an image.
     *
     * @param barrier a flush barrier (a no-op when the cache mode ignores flushes)
     */
    Qcow2RefcountWriter(Storage file, Qcow2Header header, Qcow2CorruptionSignal signal, Runnable barrier) {
        this.file = file;
        this.signal = signal;
        this.barrier = barrier;
        this.clusterBits = header.clusterBits();
        this.clusterSize = 1L << clusterBits;
        this.refcountBits = header.refcountBits();
        this.maxRefcount = refcountBits == 64 ? Long.MAX_VALUE : (1L << refcountBits) - 1;
        this.blockBits = clusterBits + 3 - (int) header.refcountOrder();
        this.blockEntries = 1L << blockBits;
        long entries = header.refcountTableClusters() << (clusterBits - 3);
        long[] stored = Qcow2L1Table.parse(file, header.refcountTableOffset(), entries).stored();
        this.table = Arrays.copyOf(stored, (int) entries);
        this.tableOffset = header.refcountTableOffset();
    }

    /**
     * Switches between written-through blocks (the default) and written-back blocks whose
     * writes wait for {@link #writeDirty}; {@code ordering} hears about every change in the
     * second mode. Switching back to write-through requires no pending block.
     */
    void writeBack(boolean on, Ordering ordering) {
        if (!on && !dirty.isEmpty()) {
            throw new IllegalStateException("refcount blocks still pending");
        }
        this.writeBack = on;
        this.ordering = on ? ordering : Ordering.NONE;
    }

    /** Whether refcount blocks changed in memory wait to be written. */
    boolean hasDirty() {
        return !dirty.isEmpty();
    }

    /** Number of refcount blocks waiting to be written. */
    int dirtyCount() {
        return dirty.size();
    }

    /** Writes the changed ranges of every pending block (no barrier). */
    void writeDirty() {
        for (Map.Entry<Long, int[]> e : dirty.entrySet()) {
            byte[] b = blocks.get(e.getKey());
            int[] r = e.getValue();
            file.write(ByteBuffer.wrap(b, r[0], r[1] - r[0]), e.getKey() + r[0]);
        }
        dirty.clear();
    }

    /** Called with the index of each cluster whose refcount drops to zero. */
    void onFreed(LongConsumer listener) {
        this.onFreed = listener;
    }

    /** qemu's s->free_cluster_index: the cluster the next free-cluster search starts at. */
    long freeClusterIndex() {
        return freeClusterIndex;
    }

    /**
     * Starts the next free-cluster searches at {@code index}: where another refcount writer of
     * the same open image stopped (qemu keeps one free_cluster_index per open image).
     */
    void searchFreeFrom(long index) {
        freeClusterIndex = index;
    }

    /** Host offset of the refcount table. */
    long tableOffset() {
        return tableOffset;
    }

    /** Clusters of the refcount table. */
    long tableClusters() {
        return ((long) table.length * 8) >>> clusterBits;
    }

    /** Host offsets of every refcount block the table points to. */
    java.util.List<Long> blockOffsets() {
        java.util.List<Long> list = new java.util.ArrayList<>();
        for (long e : table) {
            long o = e & Qcow2Refcounts.REFT_OFFSET_MASK;
            if (o != 0) {
                list.add(o);
            }
        }
        return list;
    }

    /** The refcount of host cluster {@code clusterIndex} (0 where no block covers it). */
    long get(long clusterIndex) {
        long ti = clusterIndex >>> blockBits;
        if (ti >= table.length) {
            return 0;
        }
        long blockOffset = table[(int) ti] & Qcow2Refcounts.REFT_OFFSET_MASK;
        if (blockOffset == 0) {
            return 0;
        }
        return entry(block(blockOffset, ti), clusterIndex & (blockEntries - 1));
    }

    /**
     * qemu's qcow2_alloc_clusters: allocates {@code bytes} (rounded up to clusters) of
     * contiguous free host space with refcount 1 and returns its offset.
     */
    long allocate(long bytes) {
        long n = (bytes + clusterSize - 1) >>> clusterBits;
        while (true) {
            long offset = findFree(n);
            try {
                update(offset, n << clusterBits, 1, false);
                return offset;
            } catch (Again again) {
                // metadata was placed where we looked: search again
            }
        }
    }

    /**
     * qemu's qcow2_alloc_bytes: {@code size} bytes (at most a cluster) for a compressed cluster,
     * packed after the previous one when it fits (possibly spilling into the next cluster when
     * that one is the next free cluster); every cluster touched gains one reference.
     */
    long allocateBytes(int size) {
        long offset = freeByteOffset;
        if (offset != 0 && get(offset >>> clusterBits) == maxRefcount) {
            offset = 0;
        }
        long freeInCluster = clusterSize - (offset & (clusterSize - 1));
        while (true) {
            if (offset == 0 || freeInCluster < size) {
                long newCluster = findFree(1);
                if (offset == 0 || ((offset + clusterSize - 1) & ~(clusterSize - 1)) != newCluster) {
                    offset = newCluster;
                    freeInCluster = clusterSize;
                } else {
                    freeInCluster += clusterSize;
                }
            }
            try {
                update(offset, size, 1, false);
                break;
            } catch (Again again) {
                offset = 0;
            }
        }
        freeByteOffset = offset + size;
        if ((freeByteOffset & (clusterSize - 1)) == 0) {
            freeByteOffset = 0;
        }
        return offset;
    }

    /**
     * qemu's qcow2_alloc_clusters_at: allocates up to {@code n} free clusters starting exactly at
     * {@code offset} and returns how many (stopping at the first used one).
     */
    long allocateAt(long offset, long n) {
        while (true) {
            long i = 0;
            long index = offset >>> clusterBits;
            while (i < n && get(index + i) == 0) {
                i++;
            }
            try {
                if (i > 0) {
                    update(offset, i << clusterBits, 1, false);
                }
                return i;
            } catch (Again again) {
                // retry
            }
        }
    }

    /** Decrements the refcounts of the clusters touched by {@code [offset, offset+bytes)}. */
    void free(long offset, long bytes) {
        update(offset, bytes, 1, true);
    }

    /** Adds {@code addend} (may be negative) to the refcount of one cluster. */
    void addToCluster(long clusterIndex, long addend) {
        addToRange(clusterIndex << clusterBits, clusterSize, addend);
    }

    /**
     * Adds {@code addend} (may be negative) to the refcount of every cluster that
     * {@code [offset, offset+bytes)} touches. An increment that would overflow one of them
     * changes none (EINVAL); a decrement that would go below zero (EINVAL) keeps the clusters
     * before that one decremented.
     */
    void addToRange(long offset, long bytes, long addend) {
        update(offset, bytes, Math.abs(addend), addend < 0);
    }

    /** alloc_clusters_noref: n free clusters from freeClusterIndex on (no refcount change). */
    private long findFree(long n) {
        while (true) {
            long found = 0;
            while (found < n) {
                long index = freeClusterIndex++;
                if (get(index) != 0) {
                    found = -1;
                    break;
                }
                found++;
            }
            if (found == n) {
                return (freeClusterIndex - n) << clusterBits;
            }
        }
    }

    /** qemu's update_refcount; reverts its own partial change when a block had to be made. */
    private void update(long offset, long length, long addend, boolean decrease) {
        if (length == 0) {
            return;
        }
        if (decrease) {
            ordering.beforeDecrement();
        } else {
            ordering.beforeIncrement();
        }
        change(offset, length, addend, decrease);
    }

    /** The body of update; an undo of its own partial increment needs no ordering. */
    private void change(long offset, long length, long addend, boolean decrease) {
        long start = offset & ~(clusterSize - 1);
        long last = (offset + length - 1) & ~(clusterSize - 1);
        Map<Long, int[]> touched = new HashMap<>();
        long done = start;
        try {
            for (long c = start; c <= last; c += clusterSize) {
                long index = c >>> clusterBits;
                long ti = index >>> blockBits;
                long blockOffset = blockFor(index);
                byte[] b = block(blockOffset, ti);
                long bi = index & (blockEntries - 1);
                long refcount = entry(b, bi);
                long next = decrease ? refcount - addend : refcount + addend;
                if (decrease ? next < 0 || next > refcount : next < refcount || next > maxRefcount) {
                    throw new StrataException(ErrorKind.EINVAL, "qcow2: refcount of cluster " + index
                            + (decrease ? " would drop below 0" : " would overflow"));
                }
                if (next == 0 && index < freeClusterIndex) {
                    freeClusterIndex = index;
                }
                setEntry(b, bi, next);
                widen(touched, blockOffset, bi);
                done = c + clusterSize;
                if (next == 0 && onFreed != null) {
                    onFreed.accept(index);
                }
            }
        } catch (Again again) {
            // the caller searches again: the same clusters first, they may still be free
            freeClusterIndex = Math.min(freeClusterIndex, start >>> clusterBits);
            record(touched);
            if (done > start) {
                change(start, done - start, addend, !decrease);
            }
            throw again;
        } catch (StrataException e) {
            // A refcount out of range: qemu undoes the clusters it already changed. An increment
            // is undone here too; a decrement keeps the clusters it freed, whose space the free
            // listener may already have punched.
            record(touched);
            if (!decrease && done > start) {
                change(start, done - start, addend, true);
            }
            throw e;
        }
        record(touched);
    }

    /** Widens the changed byte range of block {@code blockOffset} to cover entry {@code index}. */
    private void widen(Map<Long, int[]> ranges, long blockOffset, long index) {
        int from = (int) (index * refcountBits >>> 3);
        int to = (int) ((index + 1) * refcountBits + 7 >>> 3);
        int[] r = ranges.get(blockOffset);
        if (r == null) {
            ranges.put(blockOffset, new int[] {from, to});
        } else {
            r[0] = Math.min(r[0], from);
            r[1] = Math.max(r[1], to);
        }
    }

    /** Writes the changed ranges at once (write-through) or adds them to the pending ones. */
    private void record(Map<Long, int[]> touched) {
        for (Map.Entry<Long, int[]> e : touched.entrySet()) {
            int[] r = e.getValue();
            if (writeBack) {
                int[] pending = dirty.get(e.getKey());
                if (pending == null) {
                    dirty.put(e.getKey(), r);
                } else {
                    pending[0] = Math.min(pending[0], r[0]);
                    pending[1] = Math.max(pending[1], r[1]);
                }
            } else {
                file.write(ByteBuffer.wrap(blocks.get(e.getKey()), r[0], r[1] - r[0]), e.getKey() + r[0]);
            }
        }
    }

    /** Writes whole blocks at once (structural changes), dropping them from the pending ones. */
    private void writeBlocks(Map<Long, byte[]> whole) {
        for (Map.Entry<Long, byte[]> e : whole.entrySet()) {
            file.write(ByteBuffer.wrap(e.getValue()), e.getKey());
            dirty.remove(e.getKey());
        }
    }

    /** alloc_refcount_block: the offset of the block covering {@code index}, making one if needed. */
    private long blockFor(long index) {
        long ti = index >>> blockBits;
        if (ti < table.length) {
            long existing = table[(int) ti] & Qcow2Refcounts.REFT_OFFSET_MASK;
            if (existing != 0) {
                block(existing, ti);
                return existing;
            }
        }
        long newBlock = findFree(1);
        if (newBlock == 0) {
            throw signal.corruption("Preventing invalid allocation of refcount block at offset 0");
        }
        byte[] b = new byte[(int) clusterSize];
        if ((newBlock >>> clusterBits) >>> blockBits == ti) {
            setEntry(b, (newBlock >>> clusterBits) & (blockEntries - 1), 1);
        } else {
            update(newBlock, clusterSize, 1, false);
        }
        blocks.put(newBlock, b);
        forgetLastBlock();
        file.write(ByteBuffer.wrap(b), newBlock);
        writeDirty();
        barrier.run();
        if (ti < table.length) {
            ByteBuffer e = ByteBuffer.allocate(8).putLong(0, newBlock);
            file.write(e, tableOffset + ti * 8);
            barrier.run();
            table[(int) ti] = newBlock;
            throw new Again();
        }
        long blocksUsed = ceilDiv(Math.max(index + 1, (newBlock >>> clusterBits) + 1), blockEntries);
        refcountArea(blocksUsed * blockEntries * clusterSize, 0, false, (int) ti, newBlock);
        throw new Again();
    }

    /**
     * qemu's qcow2_refcount_area: builds at {@code startOffset} (the end of the used image) a new
     * refcount table and the blocks it needs to cover everything up to itself plus
     * {@code additionalClusters}, switches the header to it and frees the old table.
     *
     * @return the offset after the new structures, where the additional clusters may go
     */
    long refcountArea(long startOffset, long additionalClusters, boolean exactSize, int newBlockIndex,
                      long newBlockOffset) {
        long[] counts = metadataSize(startOffset / clusterSize + additionalClusters, clusterSize,
                blockEntries, !exactSize);
        long totalBlocks = counts[0];
        if (totalBlocks > MAX_REFTABLE_ENTRIES) {
            throw new StrataException(ErrorKind.EFBIG, "File too large");
        }
        long areaIndex = (startOffset / clusterSize) / blockEntries;
        long tableSize = exactSize ? totalBlocks : totalBlocks + ceilDiv(totalBlocks, 2);
        long perCluster = clusterSize / 8;
        tableSize = ceilDiv(tableSize, perCluster) * perCluster;
        long tableClusters = tableSize * 8 / clusterSize;
        if (tableSize > MAX_REFTABLE_ENTRIES) {
            throw new StrataException(ErrorKind.EFBIG, "File too large");
        }
        long[] newTable = Arrays.copyOf(table, (int) tableSize);
        if (newBlockOffset != 0) {
            newTable[newBlockIndex] = newBlockOffset;
        }
        long additionalBlocks = 0;
        for (long i = areaIndex; i < totalBlocks; i++) {
            if (newTable[(int) i] == 0) {
                additionalBlocks++;
            }
        }
        long newTableOffset = startOffset + additionalBlocks * clusterSize;
        long endOffset = newTableOffset + tableClusters * clusterSize;
        long blockOffset = startOffset;
        Map<Long, byte[]> touched = new HashMap<>();
        for (long i = areaIndex; i < totalBlocks; i++) {
            byte[] b;
            if (newTable[(int) i] != 0) {
                b = block(newTable[(int) i] & Qcow2Refcounts.REFT_OFFSET_MASK, i);
            } else {
                b = new byte[(int) clusterSize];
                blocks.put(blockOffset, b);
                forgetLastBlock();
                newTable[(int) i] = blockOffset;
                blockOffset += clusterSize;
            }
            touched.put(newTable[(int) i] & Qcow2Refcounts.REFT_OFFSET_MASK, b);
            long firstCovered = i * blockEntries * clusterSize;
            if (firstCovered < endOffset) {
                long j = firstCovered < startOffset ? (startOffset - firstCovered) / clusterSize : 0;
                long end = Math.min((endOffset - firstCovered) / clusterSize, blockEntries);
                for (; j < end; j++) {
                    setEntry(b, j, 1);
                }
            }
        }
        writeBlocks(touched);
        writeDirty();
        barrier.run();
        ByteBuffer t = ByteBuffer.allocate((int) (tableSize * 8));
        t.asLongBuffer().put(newTable);
        file.write(t, newTableOffset);
        barrier.run();
        ByteBuffer h = ByteBuffer.allocate(12).putLong(0, newTableOffset).putInt(8, (int) tableClusters);
        file.write(h, HEADER_REFTABLE_FIELD);
        barrier.run();
        long oldOffset = tableOffset;
        long oldBytes = (long) table.length * 8;
        table = newTable;
        tableOffset = newTableOffset;
        free(oldOffset, oldBytes);
        return endOffset;
    }

    /**
     * qemu's qcow2_refcount_metadata_size: {refcount blocks, table clusters} needed to count
     * {@code clusters} plus themselves (with qemu's generous 50 % table margin if asked).
     */
    static long[] metadataSize(long clusters, long clusterSize, long refcountsPerBlock, boolean generous) {
        long perTableCluster = clusterSize / 8;
        long tableClusters = 0;
        long blockCount = 0;
        long n = 0;
        long last;
        do {
            last = n;
            blockCount = ceilDiv(clusters + tableClusters + blockCount, refcountsPerBlock);
            tableClusters = ceilDiv(blockCount, perTableCluster);
            n = clusters + blockCount + tableClusters;
            if (n == last && generous) {
                clusters += ceilDiv(tableClusters, 2);
                n = 0;
                generous = false;
            }
        } while (n != last);
        return new long[] {blockCount, tableClusters};
    }

    /**
     * qemu's qcow2_shrink_reftable: drops refcount blocks that count nothing but themselves
     * (the table is rewritten first, then those blocks are freed).
     */
    void shrinkTable() {
        long[] kept = table.clone();
        for (int i = 0; i < table.length; i++) {
            long offset = table[i] & Qcow2Refcounts.REFT_OFFSET_MASK;
            if (offset == 0) {
                continue;
            }
            byte[] b = block(offset, i);
            boolean unused;
            if ((offset >>> clusterBits) >>> blockBits == i) {
                long own = (offset >>> clusterBits) & (blockEntries - 1);
                long refcount = entry(b, own);
                setEntry(b, own, 0);
                unused = isZero(b);
                setEntry(b, own, refcount);
            } else {
                unused = isZero(b);
            }
            if (unused) {
                kept[i] = 0;
            }
        }
        ByteBuffer t = ByteBuffer.allocate(table.length * 8);
        t.asLongBuffer().put(kept);
        file.write(t, tableOffset);
        barrier.run();
        for (int i = 0; i < table.length; i++) {
            if (table[i] != 0 && kept[i] == 0) {
                long offset = table[i] & Qcow2Refcounts.REFT_OFFSET_MASK;
                free(offset, clusterSize);
                table[i] = 0;
                blocks.remove(offset);
                forgetLastBlock();
                file.punchHole(offset, clusterSize);
            }
        }
    }

    private static boolean isZero(byte[] b) {
        for (byte x : b) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }

    /** The index of the last host cluster with a non-zero refcount, or -1 (qcow2_get_last_cluster). */
    long lastUsedCluster(long fromBelow) {
        for (long i = fromBelow - 1; i >= 0; i--) {
            if (get(i) != 0) {
                return i;
            }
        }
        return -1;
    }

    private byte[] block(long blockOffset, long tableIndex) {
        if (blockOffset == lastBlockOffset) {
            return lastBlock;
        }
        byte[] b = blocks.get(blockOffset);
        if (b == null) {
            if ((blockOffset & (clusterSize - 1)) != 0) {
                throw signal.corruption("Refblock offset " + Qcow2ClusterMapper.hex(blockOffset)
                        + " unaligned (reftable index: " + Qcow2ClusterMapper.hex(tableIndex) + ")");
            }
            b = HostReads.bytes(file, blockOffset, (int) clusterSize);
            blocks.put(blockOffset, b);
        }
        lastBlockOffset = blockOffset;
        lastBlock = b;
        return b;
    }

    private void forgetLastBlock() {
        lastBlockOffset = -1;
        lastBlock = null;
    }

    /*
     * Entries are decoded from the bytes (big-endian) rather than through ByteBuffer.wrap: the
     * launcher runs C1 only, which does not remove the wrapper's allocation, and every refcount
     * read or change (a free-cluster search: one per cluster) would allocate one.
     */

    private long entry(byte[] b, long index) {
        switch (refcountBits) {
            case 64:
                return bigEndian(b, (int) index * 8, 8);
            case 32:
                return bigEndian(b, (int) index * 4, 4);
            case 16:
                return bigEndian(b, (int) index * 2, 2);
            case 8:
                return b[(int) index] & 0xff;
            default: {
                long bit = index * refcountBits;
                int v = b[(int) (bit >>> 3)] & 0xff;
                return (v >>> (bit & 7)) & ((1 << refcountBits) - 1);
            }
        }
    }

    /** The unsigned big-endian number in {@code b[at, at+bytes)}. */
    private static long bigEndian(byte[] b, int at, int bytes) {
        long v = 0;
        for (int i = 0; i < bytes; i++) {
            v = v << 8 | (b[at + i] & 0xff);
        }
        return v;
    }

    /** Stores the low {@code bytes} bytes of {@code value} big-endian at {@code b[at]}. */
    private static void putBigEndian(byte[] b, int at, int bytes, long value) {
        for (int i = bytes - 1; i >= 0; i--) {
            b[at + i] = (byte) value;
            value >>>= 8;
        }
    }

    private void setEntry(byte[] b, long index, long value) {
        switch (refcountBits) {
            case 64:
                putBigEndian(b, (int) index * 8, 8, value);
                break;
            case 32:
                putBigEndian(b, (int) index * 4, 4, value);
                break;
            case 16:
                putBigEndian(b, (int) index * 2, 2, value);
                break;
            case 8:
                b[(int) index] = (byte) value;
                break;
            default: {
                long bit = index * refcountBits;
                int shift = (int) (bit & 7);
                int mask = ((1 << refcountBits) - 1) << shift;
                int i = (int) (bit >>> 3);
                b[i] = (byte) ((b[i] & ~mask) | ((int) value << shift & mask));
            }
        }
    }

    static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
