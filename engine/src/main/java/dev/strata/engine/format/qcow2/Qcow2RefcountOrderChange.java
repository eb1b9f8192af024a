package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu 7.2's qcow2_change_refcount_order, so that the new refcount structures land
 * where qemu puts them. The old refcounts are walked in reftable order and repacked, entry by
 * entry, into refblocks of the new width:
 *
 *  1. allocation walks: each new refblock that would not be empty gets a cluster, allocated
 *     through the OLD refcount structures (Qcow2RefcountWriter.allocate, so qemu's allocator
 *     decides where); the new reftable grows in whole clusters as needed. After a walk that
 *     allocated anything, the new reftable itself is (re)allocated, and the walk repeats,
 *     since those allocations changed the refcounts being repacked;
 *  2. a final walk writes the new refblocks; then the new reftable is written and the header
 *     switched to it (refcount_order, reftable offset and size);
 *  3. the old refblocks and the old reftable are freed through the NEW structures.
 *
 * qemu's one free_cluster_index runs through both: the allocations start where the image's
 * previous allocations stopped, the frees lower it, and the caller learns where it ended.
 *
 * Progress is reported per reftable entry of each walk, with qemu's walk count
 * (max(walks so far + 2, 3), the last walk closing the total). A refcount that does not fit the
 * new width fails with qemu's message before anything is written.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/** Changes the refcount width of a qcow2 image. */
final class Qcow2RefcountOrderChange {
    private static final long MAX_REFTABLE_ENTRIES = Qcow2Header.MAX_REFTABLE_BYTES / 8;

    private final Storage file;
    private final Qcow2HeaderRewrite state;
    private final Qcow2RefcountWriter old;
    private final Qcow2AmendProgress progress;
    private final Runnable barrier;
    private final long clusterSize;
    private final long oldBlockEntries;
    private final int newBits;
    private final int newBlockEntries;
    private final byte[] newBlock;
    private long[] newTable = new long[0];
    private boolean allocated;

    private Qcow2RefcountOrderChange(Storage file, Qcow2HeaderRewrite state, Qcow2RefcountWriter old, int newOrder,
                                     Qcow2AmendProgress progress, Runnable barrier) {
        this.file = file;
        this.state = state;
        this.old = old;
        this.progress = progress;
        this.barrier = barrier;
        this.clusterSize = state.clusterSize();
        this.oldBlockEntries = 1L << (state.clusterBits + 3 - state.refcountOrder);
        this.newBits = 1 << newOrder;
        this.newBlockEntries = 1 << (state.clusterBits + 3 - newOrder);
        this.newBlock = new byte[(int) clusterSize];
    }

    /**
     * Repacks the refcounts of the image in {@code file} to {@code 2^newOrder} bits and writes
     * the header from {@code state} (updated with the new refcount fields).
     *
     * @param freeClusterIndex qemu's free_cluster_index: where the allocations start, then where
     *                         the change left it
     * @throws StrataException EINVAL "Cannot decrease refcount entry width to N bits: Cluster
     *         at offset 0x... has a refcount of R" before anything is written
     */
    static void run(Storage file, Qcow2HeaderRewrite state, int newOrder, Qcow2AmendProgress progress,
                    Runnable barrier, AtomicLong freeClusterIndex) {
        Qcow2CorruptionSignal signal = new Qcow2CorruptionSignal(file.name(), e -> { });
        Qcow2RefcountWriter old = new Qcow2RefcountWriter(file, Qcow2Header.parse(file, true), signal, barrier);
        old.searchFreeFrom(freeClusterIndex.get());
        new Qcow2RefcountOrderChange(file, state, old, newOrder, progress, barrier)
                .change(newOrder, signal, freeClusterIndex);
    }

    private void change(int newOrder, Qcow2CorruptionSignal signal, AtomicLong freeClusterIndex) {
        long[] newTableOffset = {0};
        try {
            freeClusterIndex.set(repack(newOrder, signal, newTableOffset));
        } catch (StrataException e) {
            // qemu's "done:" path: give back what the failed change allocated
            for (long block : newTable) {
                if (block != 0) {
                    old.free(block, clusterSize);
                }
            }
            if (newTableOffset[0] > 0) {
                old.free(newTableOffset[0], (long) newTable.length * 8);
            }
            freeClusterIndex.set(old.freeClusterIndex());
            throw e;
        }
    }

    /** The change itself; returns where the free-cluster index ended. */
    private long repack(int newOrder, Qcow2CorruptionSignal signal, long[] tableOffsetOut) {
        int walkIndex = 0;
        long newTableOffset = 0;
        long allocatedTableEntries = 0;
        do {
            allocated = false;
            int totalWalks = Math.max(walkIndex + 2, 3);
            walk(false, walkIndex++, totalWalks);
            if (allocated) {
                if (newTableOffset != 0) {
                    old.free(newTableOffset, allocatedTableEntries * 8);
                }
                newTableOffset = old.allocate((long) newTable.length * 8);
                tableOffsetOut[0] = newTableOffset;
                allocatedTableEntries = newTable.length;
            }
        } while (allocated);
        walk(true, walkIndex, walkIndex + 1);

        ByteBuffer t = ByteBuffer.allocate(newTable.length * 8);
        t.asLongBuffer().put(newTable);
        file.write(t, newTableOffset);
        barrier.run();

        long oldTableOffset = old.tableOffset();
        long oldTableBytes = old.tableClusters() * clusterSize;
        List<Long> oldBlocks = old.blockOffsets();
        state.refcountOrder = newOrder;
        state.refcountTableOffset = newTableOffset;
        state.refcountTableClusters = (long) newTable.length * 8 / clusterSize;
        state.write(file);
        barrier.run();
        tableOffsetOut[0] = 0;
        newTable = new long[0];

        Qcow2RefcountWriter now = new Qcow2RefcountWriter(file, Qcow2Header.parse(file, true), signal, barrier);
        now.searchFreeFrom(old.freeClusterIndex());
        for (long block : oldBlocks) {
            now.free(block, clusterSize);
        }
        now.free(oldTableOffset, oldTableBytes);
        return now.freeClusterIndex();
    }

    /** Entries of the old reftable now (it may grow while new refblocks are allocated). */
    private long oldTableEntries() {
        return old.tableClusters() * clusterSize / 8;
    }

    /** Whether the old reftable has a refblock at {@code index}. */
    private boolean oldBlockPresent(long index) {
        ByteBuffer e = HostReads.read(file, old.tableOffset() + index * 8, 8);
        return (e.getLong(0) & Qcow2Refcounts.REFT_OFFSET_MASK) != 0;
    }

    /** walk_over_reftable: repacks every old refcount; {@code write} selects flush_refblock over alloc_refblock. */
    private void walk(boolean write, int index, int total) {
        long newIndex = 0;
        int inBlock = 0;
        boolean empty = true;
        for (long rti = 0; rti < oldTableEntries(); rti++) {
            long entries = oldTableEntries();
            progress.report(index * entries + rti, total * entries);
            boolean present = oldBlockPresent(rti);
            long remaining = oldBlockEntries;
            long cluster = rti * oldBlockEntries;
            while (remaining > 0) {
                if (inBlock >= newBlockEntries) {
                    finish(write, newIndex, empty);
                    newIndex++;
                    inBlock = 0;
                    empty = true;
                }
                if (present) {
                    long refcount = old.get(cluster);
                    if (newBits < 64 && (refcount >>> newBits) != 0) {
                        throw new StrataException(ErrorKind.EINVAL, "Cannot decrease refcount entry width to "
                                + newBits + " bits: Cluster at offset " + hex(cluster * clusterSize)
                                + " has a refcount of " + Long.toUnsignedString(refcount));
                    }
                    if (write) {
                        setEntry(inBlock, refcount);
                    }
                    inBlock++;
                    cluster++;
                    remaining--;
                    empty = empty && refcount == 0;
                } else {
                    long take = Math.min(remaining, newBlockEntries - inBlock);
                    if (write) {
                        clearEntries(inBlock, take);
                    }
                    inBlock += (int) take;
                    cluster += take;
                    remaining -= take;
                }
            }
        }
        if (inBlock > 0) {
            if (write) {
                clearEntries(inBlock, newBlockEntries - inBlock);
            }
            finish(write, newIndex, empty);
        }
        long entries = oldTableEntries();
        progress.report((index + 1) * entries, total * entries);
    }

    /** alloc_refblock or flush_refblock for one completed new refblock. */
    private void finish(boolean write, long newIndex, boolean empty) {
        if (write) {
            if (newIndex < newTable.length && newTable[(int) newIndex] != 0) {
                file.write(ByteBuffer.wrap(newBlock), newTable[(int) newIndex]);
            }
            return;
        }
        if (empty) {
            return;
        }
        if (newIndex >= newTable.length) {
            long perCluster = clusterSize / 8;
            long size = (newIndex + 1 + perCluster - 1) / perCluster * perCluster;
            if (size > MAX_REFTABLE_ENTRIES) {
                throw StrataException.unsupported("This operation would make the refcount table grow beyond the"
                        + " maximum size supported by QEMU, aborting");
            }
            newTable = Arrays.copyOf(newTable, (int) size);
        }
        if (newTable[(int) newIndex] == 0) {
            newTable[(int) newIndex] = old.allocate(clusterSize);
            allocated = true;
        }
    }

    private void clearEntries(long from, long count) {
        if (count <= 0) {
            return;
        }
        long firstBit = from * newBits;
        long endBit = (from + count) * newBits;
        if ((firstBit & 7) == 0 && (endBit & 7) == 0) {
            Arrays.fill(newBlock, (int) (firstBit >>> 3), (int) (endBit >>> 3), (byte) 0);
            return;
        }
        for (long i = from; i < from + count; i++) {
            setEntry(i, 0);
        }
    }

    /** Stores {@code value} as entry {@code index} of the new refblock (big-endian, sub-byte widths LSB first). */
    private void setEntry(long index, long value) {
        ByteBuffer w = ByteBuffer.wrap(newBlock);
        switch (newBits) {
            case 64 -> w.putLong((int) index * 8, value);
            case 32 -> w.putInt((int) index * 4, (int) value);
            case 16 -> w.putShort((int) index * 2, (short) value);
            case 8 -> newBlock[(int) index] = (byte) value;
            default -> {
                long bit = index * newBits;
                int shift = (int) (bit & 7);
                int mask = ((1 << newBits) - 1) << shift;
                int i = (int) (bit >>> 3);
                newBlock[i] = (byte) ((newBlock[i] & ~mask) | ((int) value << shift & mask));
            }
        }
    }

    /** C's "%#" PRIx64. */
    private static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }
}
