package dev.strata.engine.format.qcow2.check;

/*
 * Design note: qemu's rebuild_refcount_structure (with rebuild_refcounts_write_refblocks and
 * alloc_clusters_imrt), which qemu-img check -r all runs when a referenced cluster has refcount 0
 * or the refcount blocks are damaged. A new refcount structure is made from the recounted
 * references (the IMRT) alone, with qemu's placement, so the file ends up laid out as qemu lays
 * it out:
 *
 *  - scan the clusters in order; for the first allocated cluster of each refblock range, place
 *    that range's refblock in the first cluster the IMRT has free, never before the range's own
 *    start (no allocation in a refblock already written); a refblock placed past the scanned end
 *    extends the scan, so its own range gets a refblock too; each refblock is "written" as the
 *    IMRT slice of its range at that moment (one cluster of refcounts of the image's width);
 *  - the reftable, big enough for every refblock index used (whole clusters), goes into the first
 *    free run of clusters from cluster 0; the refblocks covering it are written again; if that
 *    made the reftable grow, it is placed again, until it stops growing;
 *  - then the reftable is written and the header's refcount_table_offset/clusters (12 bytes at
 *    offset 48) point at it. The old structure is left in place, as leaks for the caller's
 *    leak-fixing pass.
 *
 * Planning is separated from writing: plan() only changes the IMRT and records the writes (with
 * the bytes each write would carry at its moment), so the caller can first see whether qemu's
 * pre-write overlap check would stop a write (the old structure is still what qemu checks
 * against) and then apply the writes in order, stopping where qemu would fail.
 */

import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A planned rebuild of the refcount structure of one image. */
final class RefcountRebuild {
    /** Offset of refcount_table_offset in the header (followed by refcount_table_clusters). */
    private static final int REFTABLE_HEADER_FIELD = 48;

    /** One planned write of the rebuild. */
    record Write(long offset, byte[] data, boolean reftable) {
    }

    private final ComputedRefcounts imrt;
    private final int clusterBits;
    private final int refcountOrder;
    private final int blockBits;
    private final List<Write> writes = new ArrayList<>();
    private long[] reftable = new long[0];
    private long reftableOffset = -1;
    private long reftableClusters;

    private RefcountRebuild(ComputedRefcounts imrt, int clusterBits, int refcountOrder) {
        this.imrt = imrt;
        this.clusterBits = clusterBits;
        this.refcountOrder = refcountOrder;
        this.blockBits = clusterBits - (refcountOrder - 3);
    }

    /**
     * Plans the rebuild: allocates the new refblocks and reftable in {@code imrt} (which grows
     * where they go past its end) and records every write qemu makes, in qemu's order.
     */
    static RefcountRebuild plan(ComputedRefcounts imrt, int clusterBits, int refcountOrder) {
        RefcountRebuild r = new RefcountRebuild(imrt, clusterBits, refcountOrder);
        r.writeRefblocks(0, imrt.size());
        boolean grown;
        do {
            long length = (long) r.reftable.length * 8;
            r.reftableClusters = (length + (1L << clusterBits) - 1) >>> clusterBits;
            long[] firstFree = {0};
            r.reftableOffset = r.allocate(r.reftableClusters, firstFree);
            long start = r.reftableOffset >>> clusterBits;
            grown = r.writeRefblocks(start, start + r.reftableClusters);
        } while (grown);
        ByteBuffer table = ByteBuffer.allocate(r.reftable.length * 8);
        table.asLongBuffer().put(r.reftable);
        r.writes.add(new Write(r.reftableOffset, table.array(), true));
        return r;
    }

    /** The writes in qemu's order: refblocks (some twice), then the reftable. */
    List<Write> writes() {
        return writes;
    }

    /**
     * Performs the first {@code count} writes; when all were made, also points the header at the
     * new reftable (qemu's bdrv_pwrite_sync of the two header fields).
     */
    void apply(Storage file, int count) {
        for (int i = 0; i < count; i++) {
            Write w = writes.get(i);
            file.write(ByteBuffer.wrap(w.data()), w.offset());
        }
        if (count == writes.size()) {
            ByteBuffer header = ByteBuffer.allocate(12).putLong(reftableOffset).putInt((int) reftableClusters);
            file.write(header.flip(), REFTABLE_HEADER_FIELD);
        }
        file.flush();
    }

    /**
     * qemu's rebuild_refcounts_write_refblocks over clusters [first, end).
     *
     * @return whether the reftable grew
     */
    private boolean writeRefblocks(long first, long end) {
        boolean grown = false;
        long[] firstFree = {0};
        for (long cluster = first; cluster < end; cluster++) {
            if (imrt.get(cluster) == 0) {
                continue;
            }
            long index = cluster >>> blockBits;
            long rangeStart = index << blockBits;
            long blockOffset;
            if (index < reftable.length && reftable[(int) index] != 0) {
                blockOffset = reftable[(int) index];
            } else {
                if (firstFree[0] < rangeStart) {
                    firstFree[0] = rangeStart;
                }
                blockOffset = allocate(1, firstFree);
                long blockCluster = blockOffset >>> clusterBits;
                if (blockCluster >= end) {
                    end = blockCluster + 1; // the refblock holding this refblock's refcount
                }
                if (index >= reftable.length) {
                    long entriesPerCluster = (1L << clusterBits) / 8;
                    long entries = (index + 1 + entriesPerCluster - 1) / entriesPerCluster * entriesPerCluster;
                    reftable = Arrays.copyOf(reftable, Math.toIntExact(entries));
                    grown = true;
                }
                reftable[(int) index] = blockOffset;
            }
            writes.add(new Write(blockOffset, slice(index), false));
            cluster = rangeStart + (1L << blockBits) - 1;
        }
        return grown;
    }

    /** The IMRT's refcounts of refblock range {@code index}, encoded as one refcount block. */
    private byte[] slice(long index) {
        byte[] block = new byte[1 << clusterBits];
        long first = index << blockBits;
        long end = Math.min(imrt.size(), first + (1L << blockBits));
        for (long c = first; c < end; c++) {
            long v = imrt.get(c);
            if (v != 0) {
                StoredRefcounts.put(block, c - first, refcountOrder, v);
            }
        }
        return block;
    }

    /**
     * qemu's alloc_clusters_imrt: the first run of {@code count} free clusters at or after
     * {@code firstFree[0]}, appended at the end when there is none; marks it used (refcount 1)
     * and leaves {@code firstFree[0]} at the first free cluster seen.
     *
     * @return the host offset of the run
     */
    private long allocate(long count, long[] firstFree) {
        long cluster = firstFree[0];
        boolean firstGap = true;
        long contiguous = 0;
        for (; cluster < imrt.size() && contiguous < count; cluster++) {
            if (imrt.get(cluster) == 0) {
                contiguous++;
                if (firstGap) {
                    firstFree[0] = cluster;
                    firstGap = false;
                }
            } else {
                contiguous = 0;
            }
        }
        if (contiguous < count) {
            imrt.resize(cluster + count - contiguous);
        }
        cluster -= contiguous;
        for (long i = 0; i < count; i++) {
            imrt.set(cluster + i, 1);
        }
        return cluster << clusterBits;
    }
}
