package dev.strata.engine.format.qcow2.check;

/*
 * Design note: the last step of qemu's qcow2_write_snapshots in a check -r all: the old table's
 * clusters lose a reference (qcow2_free_clusters, QCOW2_DISCARD_SNAPSHOT). qemu's update_refcount
 * walks the clusters in order and stops at the first one it cannot lower, undoing what it did;
 * qcow2_free_clusters then prints why and the rewrite goes on:
 *
 *  - a cluster whose refcount is 0 already: "qcow2_free_clusters failed: Invalid argument", the
 *    file is unchanged (the discards queued so far are dropped);
 *  - a cluster with no refcount block (an old table pointer far past the end of the file):
 *    alloc_refcount_block makes the block first. It takes the next free cluster after the new
 *    table (qemu's free_cluster_index), gives it a reference, writes it as an empty block and
 *    hooks it into the refcount table, then returns -EAGAIN, which qcow2_free_clusters does not
 *    retry: "qcow2_free_clusters failed: Resource temporarily unavailable", and the new, empty
 *    block stays. The refcounts lowered before are put back, but the clusters that reached 0
 *    were punched on the way (the block's own update_refcount passes the queued discards on). Only the simple case is followed: the refcount table has room for the entry,
 *    and the block lies outside the range it describes, in a range that has a block already;
 *    anything else (qemu would grow the table or make blocks for blocks) is refused by the dry
 *    run (RepairWriteForecast uses the same decisions on its foreseen refcounts);
 *  - otherwise every cluster loses a reference; those reaching 0 are punched.
 */

import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2RefcountEditor;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/** Frees the old snapshot table's clusters after a rewrite, as qemu does. */
final class OldSnapshotTableFree {
    private OldSnapshotTableFree() {
    }

    /**
     * Where qemu's update_refcount lowering {@code [first, first + n)} stops.
     *
     * @param cluster    the cluster it stops at ({@code first + n}: it does not stop)
     * @param needsBlock whether it stops there to make a refcount block (else the cluster is free)
     */
    record Stop(long cluster, boolean needsBlock) {
        boolean freesAll(long end) {
            return cluster == end;
        }
    }

    /** qemu's update_refcount walk lowering {@code [first, first + n)}. */
    static Stop walk(SnapshotTableRewrite.ClusterUse use, SnapshotTableRewrite.BlockCoverage coverage, int blockBits,
                     long first, long n) throws CheckAbort {
        for (long c = first; c < first + n; c++) {
            if (!coverage.covers(c >>> blockBits)) {
                return new Stop(c, true);
            }
            if (!use.inUse(c)) {
                return new Stop(c, false);
            }
        }
        return new Stop(first + n, false);
    }

    /**
     * Where alloc_refcount_block puts the block for {@code forCluster}, in the simple case only.
     *
     * @param tableEntries entries of the refcount table
     * @param searchFrom   qemu's free_cluster_index (the cluster after the new table)
     * @return the block's cluster, or -1 when qemu would take a path strata does not follow
     */
    static long newBlockCluster(SnapshotTableRewrite.ClusterUse use, SnapshotTableRewrite.BlockCoverage coverage,
                                int blockBits, long tableEntries, long searchFrom, long forCluster)
            throws CheckAbort {
        long range = forCluster >>> blockBits;
        if (range >= tableEntries) {
            return -1; // the refcount table would grow
        }
        long c = searchFrom;
        while (use.inUse(c)) {
            c++;
        }
        if (c == 0 || c >>> blockBits == range || !coverage.covers(c >>> blockBits)) {
            return -1; // offset 0 is a corruption event; a block describing itself or described by a new one
        }
        return c;
    }

    /**
     * Frees the old table's clusters.
     *
     * @param searchFrom the cluster after the new table (qemu's free_cluster_index)
     * @param overlap    qemu's overlap check as it stands (a new block is written through it)
     * @throws CheckAbort ENOTSUP when qemu would take a path the dry run should have refused
     */
    static void run(Storage file, Qcow2Header header, Qcow2RefcountEditor refcounts, long tableOffset,
                    long tableSize, long searchFrom, MetadataOverlap overlap, CheckListener out) throws CheckAbort {
        int clusterBits = header.clusterBits();
        long first = tableOffset >>> clusterBits;
        long n = SnapshotTableRewrite.clustersTouched(tableOffset, tableSize, clusterBits);
        long entries = header.refcountTableClusters() << clusterBits >>> 3;
        StoredRefcounts now = new StoredRefcounts(file, clusterBits, (int) header.refcountOrder(),
                header.refcountTableOffset(), (int) entries);
        SnapshotTableRewrite.ClusterUse use = c -> SnapshotTableRewrite.storedInUse(now, c);
        SnapshotTableRewrite.BlockCoverage coverage = b -> SnapshotTableRewrite.covers(now, b);
        Stop stop = walk(use, coverage, now.blockBits(), first, n);
        if (stop.needsBlock()) {
            long block = newBlockCluster(use, coverage, now.blockBits(), now.tableEntries(), searchFrom,
                    stop.cluster());
            if (block < 0 || overlap.overlap(block << clusterBits, 1L << clusterBits,
                    MetadataOverlap.Kind.REFCOUNT_BLOCK) != null) {
                throw SnapshotTableRewrite.unforeseen();
            }
            // The block's own reference is update_refcount's too: at its end qemu passes on the
            // discards queued so far, those of the old table's clusters already lowered to 0.
            for (long c = first; c < stop.cluster(); c++) {
                if (storedRefcount(now, c) == 1) {
                    file.punchHole(c << clusterBits, 1L << clusterBits);
                }
            }
            refcounts.add(block, 1);
            file.flush();
            file.write(ByteBuffer.allocate(1 << clusterBits), block << clusterBits);
            file.flush();
            long entry = header.refcountTableOffset() + 8 * (stop.cluster() >>> now.blockBits());
            file.write(ByteBuffer.allocate(8).putLong(0, block << clusterBits), entry);
            file.flush();
            out.line("qcow2_free_clusters failed: Resource temporarily unavailable");
            return;
        }
        if (!stop.freesAll(first + n)) {
            out.line("qcow2_free_clusters failed: Invalid argument");
            return;
        }
        for (long c = first; c < first + n; c++) {
            refcounts.add(c, -1);
        }
        file.flush();
    }

    private static long storedRefcount(StoredRefcounts stored, long cluster) throws CheckAbort {
        try {
            return stored.get(cluster);
        } catch (StoredRefcounts.UnalignedBlock | StoredRefcounts.UnreadableBlock e) {
            throw CheckAbort.io();
        }
    }
}
