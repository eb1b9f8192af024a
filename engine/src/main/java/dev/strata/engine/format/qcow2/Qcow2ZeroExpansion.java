package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu 7.2's qcow2_expand_zero_clusters, run before a downgrade to v2 (which has no
 * zero flag). Every L2 table reachable from the active L1 table, then from each snapshot's L1
 * table, is visited once per L1 entry pointing to it:
 *
 *  - a zero cluster without host cluster becomes unallocated when the image has no backing
 *    file (it reads as zeros either way); with a backing file a cluster is allocated (qemu's
 *    allocator, through Qcow2RefcountWriter), given the L2 table's refcount when the table is
 *    shared with snapshots, and filled with zeros;
 *  - a zero cluster with a host cluster has that cluster filled with zeros;
 *  - either way the entry then points to the cluster, with OFLAG_COPIED only when the L2
 *    table's refcount is 1.
 *
 * Tables are read and written whole (qemu works in slices; the bytes that change are the same).
 * A table shared between L1 tables is expanded at its first visit; later visits find nothing to
 * do, as in qemu, whose active tables are written back before the snapshot tables are read.
 * Progress: one report per L1 entry visited, out of the entries of all L1 tables.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/** Turns the zero clusters of a (non-extended-L2) qcow2 image into data or unallocated clusters. */
final class Qcow2ZeroExpansion {
    private final Storage file;
    private final Qcow2RefcountWriter refcounts;
    private final boolean hasBacking;
    private final int clusterBits;
    private final long clusterSize;
    private final Qcow2AmendProgress progress;
    private final long totalL1Entries;
    private long visited;

    private Qcow2ZeroExpansion(Storage file, Qcow2RefcountWriter refcounts, boolean hasBacking, int clusterBits,
                               Qcow2AmendProgress progress, long totalL1Entries) {
        this.file = file;
        this.refcounts = refcounts;
        this.hasBacking = hasBacking;
        this.clusterBits = clusterBits;
        this.clusterSize = 1L << clusterBits;
        this.progress = progress;
        this.totalL1Entries = totalL1Entries;
    }

    /**
     * Expands the zero clusters of the active L1 table and of every snapshot's L1 table.
     *
     * @param freeClusterIndex qemu's free_cluster_index: where the allocations start, then where
     *                         they stopped
     * @throws StrataException EIO for an unaligned L2 or cluster offset, with qemu's wording
     */
    static void run(Storage file, Qcow2HeaderRewrite state, Qcow2SnapshotTable snapshots, Qcow2AmendProgress progress,
                    Runnable barrier, AtomicLong freeClusterIndex) {
        Qcow2CorruptionSignal signal = new Qcow2CorruptionSignal(file.name(), e -> { });
        Qcow2RefcountWriter refcounts = new Qcow2RefcountWriter(file, Qcow2Header.parse(file, true), signal, barrier);
        refcounts.searchFreeFrom(freeClusterIndex.get());
        try {
            expand(file, state, snapshots, progress, barrier, refcounts);
        } finally {
            freeClusterIndex.set(refcounts.freeClusterIndex());
        }
    }

    private static void expand(Storage file, Qcow2HeaderRewrite state, Qcow2SnapshotTable snapshots,
                               Qcow2AmendProgress progress, Runnable barrier, Qcow2RefcountWriter refcounts) {
        long total = state.l1Size;
        for (Qcow2SnapshotTable.Entry e : snapshots.entries()) {
            total += e.l1Size();
        }
        boolean hasBacking = state.backingFile != null && !state.backingFile.isEmpty();
        Qcow2ZeroExpansion x = new Qcow2ZeroExpansion(file, refcounts, hasBacking, state.clusterBits, progress, total);
        x.expandL1(Qcow2L1Table.parse(file, state.l1TableOffset, state.l1Size).stored(), state.l1Size);
        barrier.run();
        for (Qcow2SnapshotTable.Entry e : snapshots.entries()) {
            Qcow2Header.validateTable(x.clusterSize, e.l1TableOffset(), e.l1Size(), 8, Qcow2Header.MAX_L1_BYTES,
                    "Snapshot L1 table");
            x.expandL1(Qcow2L1Table.parse(file, e.l1TableOffset(), e.l1Size()).stored(), e.l1Size());
        }
    }

    private void expandL1(long[] l1, long size) {
        for (int i = 0; i < size; i++) {
            long l2Offset = (i < l1.length ? l1[i] : 0) & Qcow2L2Entry.L1_OFFSET_MASK;
            if (l2Offset != 0) {
                if ((l2Offset & (clusterSize - 1)) != 0) {
                    throw failed();
                }
                expandL2(l2Offset);
            }
            visited++;
            progress.report(visited, totalL1Entries);
        }
    }

    private void expandL2(long l2Offset) {
        long l2Refcount = refcounts.get(l2Offset >>> clusterBits);
        ByteBuffer table = HostReads.read(file, l2Offset, (int) clusterSize);
        boolean dirty = false;
        for (int j = 0; j < clusterSize / 8; j++) {
            long raw = table.getLong(j * 8);
            Qcow2SubclusterType type = new Qcow2L2Entry(raw, 0).clusterType(false, false);
            if (type != Qcow2SubclusterType.ZERO_PLAIN && type != Qcow2SubclusterType.ZERO_ALLOC) {
                continue;
            }
            long offset = raw & Qcow2L2Entry.OFFSET_MASK;
            if (type == Qcow2SubclusterType.ZERO_PLAIN) {
                if (!hasBacking) {
                    table.putLong(j * 8, 0);
                    dirty = true;
                    continue;
                }
                offset = refcounts.allocate(clusterSize);
                if (l2Refcount > 1) {
                    refcounts.addToCluster(offset >>> clusterBits, l2Refcount - 1);
                }
            }
            if ((offset & (clusterSize - 1)) != 0) {
                throw failed();
            }
            Storage.writeZeros(file, offset, clusterSize);
            table.putLong(j * 8, l2Refcount == 1 ? offset | Qcow2L2Entry.OFLAG_COPIED : offset);
            dirty = true;
        }
        if (dirty) {
            file.write(table.clear(), l2Offset);
        }
    }

    private static StrataException failed() {
        return new StrataException(ErrorKind.EIO, "Failed to turn zero into data clusters: Input/output error");
    }
}
