package dev.strata.engine.format.qcow2.check;

/*
 * Design note: part of the repair's dry run. It foresees, before anything is written, two things
 * qemu does with refcounts that strata's repair does not do the same way:
 *
 *  - qemu keeps changed refcount blocks in its cache and writes them back later (at a flush:
 *    when the snapshot table is written again, or when the image is closed), each one through
 *    its overlap check with refcount blocks left out. A block that overlaps other metadata in
 *    memory (a damaged snapshot entry's L1 table, say) is then not written, the image is marked
 *    corrupt and the flush fails. strata writes refcounts through at once. When such blocks are
 *    written back at the rewrite's flush, the rewrite plays qemu's failure (it puts the blocks'
 *    old bytes back); otherwise (at the close, after the report, or blocks overlapping different
 *    kinds, where the order in qemu's cache decides the message) the repair is refused;
 *  - qemu makes a new refcount block where the snapshot table rewrite (SnapshotTableRewrite)
 *    needs one, for the clusters the new table goes to or for the old table's clusters it frees
 *    (update_refcount makes a block even to lower a refcount, up to the first cluster already
 *    free, where that step fails). strata follows only the simplest of these, the one empty
 *    block made for the old table (OldSnapshotTableFree); the others are refused.
 *
 * The refcounts the repair leaves are foreseen from the dry run's recount:
 *  - without a rebuild, every cluster of the recount holds its recounted value (leaks, and with
 *    -r all errors, fixed) and clusters past it keep their stored refcount; the first free run
 *    is then exactly where qemu puts the table, and the stored refcount table tells the blocks;
 *  - with a rebuild, the new structure is planned on the dry run's recount (RefcountRebuild;
 *    its writes were checked against the overlap already, and later write-backs hit the same
 *    blocks); the old structure is freed afterwards, so the real free run starts no later than
 *    the one found on the plan's counts: every block range from cluster 0 up to that run's end
 *    must have a block in the planned refcount table.
 * A refcount that cannot be read counts as needing a block (refused rather than guessed).
 */

import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2L1Table;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Foresees the refcount writes of a repair that strata cannot make as qemu makes them. */
final class RepairWriteForecast {
    private static final String NEW_BLOCK = "a snapshot table whose rewrite needs a new refcount block";
    private static final String STOPPED_WRITE_BACK = "refcounts in a refcount block that qemu's overlap check keeps"
            + " from being written back";

    private final Storage file;
    private final Qcow2Header header;
    private final RepairMode mode;
    private final StoredRefcounts stored;

    /**
     * @param stored the stored refcounts before the repair
     */
    RepairWriteForecast(Storage file, Qcow2Header header, RepairMode mode, StoredRefcounts stored) {
        this.file = file;
        this.header = header;
        this.mode = mode;
        this.stored = stored;
    }

    /**
     * A refcount block qemu's overlap check keeps from being written back at the flush of the
     * snapshot table rewrite.
     *
     * @param offset host offset of the block
     * @param kind   the metadata it overlaps
     */
    record StoppedBlock(long offset, MetadataOverlap.Kind kind) {
    }

    /**
     * What the dry run foresees.
     *
     * @param refusal what strata would have to do differently from qemu ("repairing ..."
     *                completes the refusal), or null when the repair can run
     * @param stopped the refcount blocks whose write-back the rewrite's flush stops (all
     *                overlapping the same kind of metadata)
     */
    record Outcome(String refusal, List<StoppedBlock> stopped) {
        static final Outcome CLEAR = new Outcome(null, List.of());

        static Outcome refused(String what) {
            return new Outcome(what, List.of());
        }
    }

    /**
     * @param snapshots      the snapshot table as the repair reads it
     * @param refs           the dry run's recount (changed here when a rebuild is planned)
     * @param fileLength     the file length the recount ended with
     * @param counterRebuild whether the recount itself found that a rebuild is needed
     */
    Outcome forecast(SnapshotTableCheck snapshots, ComputedRefcounts refs, long fileLength, boolean counterRebuild) {
        RefcountComparison comparison = new RefcountComparison(file, header, fileLength, stored, new CheckTally(),
                CheckListener.ignoring());
        comparison.compare(refs);
        boolean rebuild = counterRebuild || comparison.needsRebuild();
        // qemu fails a table over 64 MiB (EFBIG) before it allocates or frees anything
        boolean rewrite = mode == RepairMode.ALL && snapshots.corruptions() > 0
                && SnapshotTableRewrite.newTableSize(snapshots.snapshots()) >= 0;
        try {
            if (rebuild) {
                // -r leaks stops before it writes ("need to rebuild")
                return rewrite && rebuiltRewriteNeedsBlock(snapshots, refs) ? Outcome.refused(NEW_BLOCK)
                        : Outcome.CLEAR;
            }
            Set<Long> written = fixedBlocks(refs);
            if (rewrite && rewriteNeedsBlock(snapshots, refs, written)) {
                return Outcome.refused(NEW_BLOCK);
            }
            List<StoppedBlock> stopped = stoppedWriteBacks(written, snapshots);
            if (stopped.isEmpty()) {
                return Outcome.CLEAR;
            }
            // The rewrite's flush is where qemu finds out (and fails); with no rewrite it is the
            // close, after the report. Blocks overlapping different kinds: the one qemu names
            // depends on its cache's order.
            boolean oneKind = stopped.stream().allMatch(b -> b.kind() == stopped.get(0).kind());
            return rewrite && oneKind ? new Outcome(null, stopped) : Outcome.refused(STOPPED_WRITE_BACK);
        } catch (CheckAbort e) {
            return Outcome.refused(NEW_BLOCK); // a refcount that cannot be read: refused rather than guessed
        }
    }

    /**
     * Without a rebuild: whether the rewrite needs a new refcount block; adds the blocks it
     * changes to {@code written}.
     */
    private boolean rewriteNeedsBlock(SnapshotTableCheck snapshots, ComputedRefcounts refs, Set<Long> written)
            throws CheckAbort {
        int blockBits = stored.blockBits();
        long n = newTableClusters(snapshots);
        SnapshotTableRewrite.ClusterUse repaired =
                c -> c < refs.size() ? refs.get(c) != 0 : SnapshotTableRewrite.storedInUse(stored, c);
        long first = SnapshotTableRewrite.firstFree(repaired, n);
        SnapshotTableRewrite.BlockCoverage blocks = b -> SnapshotTableRewrite.covers(stored, b);
        if (SnapshotTableRewrite.needsNewRefcountBlock(blocks, blockBits, first, n)) {
            return true;
        }
        addBlocks(written, first, n);
        int clusterBits = header.clusterBits();
        long[] l1 = Qcow2L1Table.parse(file, header.l1TableOffset(), header.l1Size()).stored();
        MetadataOverlap overlap = new MetadataOverlap(header, l1, snapshots.table(), stored);
        long size = SnapshotTableRewrite.newTableSize(snapshots.snapshots());
        if (overlap.overlap(first << clusterBits, size, (MetadataOverlap.Kind) null) != null) {
            return false; // qemu stops at the overlap, before it frees the old table
        }
        long oldFirst = snapshots.offset() >>> clusterBits;
        SnapshotTableRewrite.ClusterUse afterAllocation = c -> c >= first && c < first + n || repaired.inUse(c);
        OldSnapshotTableFree.Stop stop = OldSnapshotTableFree.walk(afterAllocation, blocks, blockBits, oldFirst,
                oldTableClusters(snapshots));
        addBlocks(written, oldFirst, stop.cluster() - oldFirst);
        if (stop.needsBlock()) {
            long block = OldSnapshotTableFree.newBlockCluster(afterAllocation, blocks, blockBits,
                    stored.tableEntries(), first + n, stop.cluster());
            if (block < 0 || overlap.overlap(block << clusterBits, 1L << clusterBits,
                    MetadataOverlap.Kind.REFCOUNT_BLOCK) != null) {
                return true;
            }
            addBlocks(written, block, 1);
        }
        return false;
    }

    /** The refcount blocks the refcount repair changes (no rebuild), walked block by block. */
    private Set<Long> fixedBlocks(ComputedRefcounts refs) {
        Set<Long> blocks = new HashSet<>();
        int blockBits = stored.blockBits();
        int order = stored.refcountOrder();
        for (long b = 0; b << blockBits < refs.size(); b++) {
            byte[] block;
            try {
                block = stored.blockAt(b);
            } catch (StoredRefcounts.UnalignedBlock | StoredRefcounts.UnreadableBlock e) {
                continue; // a check error: nothing is fixed there
            }
            if (block == null) {
                continue; // stored refcounts 0: a rebuild, not a fix
            }
            long first = b << blockBits;
            long end = Math.min(refs.size(), first + (1L << blockBits));
            for (long c = first; c < end; c++) {
                long s = StoredRefcounts.entry(block, c - first, order);
                long r = refs.get(c);
                if (s != r && s != 0 && (Long.compareUnsigned(s, r) > 0 || mode == RepairMode.ALL)) {
                    blocks.add(b);
                    break;
                }
            }
        }
        return blocks;
    }

    /** The refcount blocks among these whose write-back qemu's overlap check stops. */
    private List<StoppedBlock> stoppedWriteBacks(Set<Long> blockIndexes, SnapshotTableCheck snapshots) {
        List<StoppedBlock> stopped = new ArrayList<>();
        if (blockIndexes.isEmpty()) {
            return stopped;
        }
        long[] l1 = Qcow2L1Table.parse(file, header.l1TableOffset(), header.l1Size()).stored();
        MetadataOverlap overlap = new MetadataOverlap(header, l1, snapshots.table(), stored);
        for (long b : blockIndexes) {
            long block = stored.tableEntry((int) b) & StoredRefcounts.REFT_OFFSET_MASK;
            MetadataOverlap.Kind kind =
                    overlap.overlap(block, header.clusterSize(), MetadataOverlap.Kind.REFCOUNT_BLOCK);
            if (kind != null) {
                stopped.add(new StoppedBlock(block, kind));
            }
        }
        return stopped;
    }

    /**
     * With a rebuild: whether the rewrite may need a block the planned structure lacks (the real
     * free run starts no later than the one found on the plan's counts).
     */
    private boolean rebuiltRewriteNeedsBlock(SnapshotTableCheck snapshots, ComputedRefcounts refs)
            throws CheckAbort {
        RefcountRebuild plan = RefcountRebuild.plan(refs, header.clusterBits(), (int) header.refcountOrder());
        long[] reftable = plannedReftable(plan);
        long n = newTableClusters(snapshots);
        SnapshotTableRewrite.ClusterUse planned = c -> c < refs.size() && refs.get(c) != 0;
        long first = SnapshotTableRewrite.firstFree(planned, n);
        SnapshotTableRewrite.BlockCoverage blocks = b -> b < reftable.length && reftable[(int) b] != 0;
        return SnapshotTableRewrite.needsNewRefcountBlock(blocks, stored.blockBits(), 0, first + n)
                || OldSnapshotTableFree.walk(planned, blocks, stored.blockBits(),
                        snapshots.offset() >>> header.clusterBits(), oldTableClusters(snapshots)).needsBlock();
    }

    /** Clusters of the new table (its size is within qemu's limit). */
    private long newTableClusters(SnapshotTableCheck snapshots) {
        return SnapshotTableRewrite.clusters(SnapshotTableRewrite.newTableSize(snapshots.snapshots()),
                header.clusterBits());
    }

    private long oldTableClusters(SnapshotTableCheck snapshots) {
        return SnapshotTableRewrite.clustersTouched(snapshots.offset(), snapshots.size(), header.clusterBits());
    }

    private void addBlocks(Set<Long> blocks, long first, long n) {
        int blockBits = stored.blockBits();
        for (long b = first >>> blockBits; n > 0 && b <= (first + n - 1) >>> blockBits; b++) {
            blocks.add(b);
        }
    }

    /** The refcount table the rebuild plan writes last. */
    private static long[] plannedReftable(RefcountRebuild plan) {
        byte[] data = new byte[0];
        for (RefcountRebuild.Write w : plan.writes()) {
            if (w.reftable()) {
                data = w.data();
            }
        }
        long[] table = new long[data.length / 8];
        ByteBuffer.wrap(data).asLongBuffer().get(table);
        return table;
    }
}
