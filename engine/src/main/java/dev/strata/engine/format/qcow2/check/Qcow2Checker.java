package dev.strata.engine.format.qcow2.check;

/*
 * Design note: the qcow2 consistency check without repair, step for step what qemu's
 * qcow2_co_check_locked does: read the snapshot table the tolerant check-mode way
 * (SnapshotTableCheck; a broken table stops the check with an internal error), recount every
 * reference to every host cluster (ReferenceCounter), compare with the stored refcounts, check
 * OFLAG_COPIED (RefcountComparison), and add up the counters. Messages go to the CheckListener
 * as they are found, in qemu's order and wording.
 *
 * Memory is bounded by the real file: the recount table covers the file's clusters (plus the
 * one a reference just past EOF may add) and is allocated sparsely; every table qemu would read
 * whole was bounded by header validation, and parts past EOF are never read.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2L1Table;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.check.CheckOutcome;
import dev.strata.engine.storage.Storage;

/** Checks one qcow2 image file (the metadata file; an external data file is not read). */
public final class Qcow2Checker {
    private final Storage file;
    private final CheckListener out;
    private final CheckTally tally = new CheckTally();

    private Qcow2Checker(Storage file, CheckListener out) {
        this.file = file;
        this.out = out;
    }

    /**
     * Checks the qcow2 image in {@code file}, which the caller has opened as qemu-img check opens
     * it (header validated in check mode).
     *
     * @return a completed report (with file name and format still to be set by the caller), or
     *         the reason the check had to stop
     * @throws StrataException when the header cannot be parsed at all
     */
    public static CheckOutcome check(Storage file, CheckListener out) {
        Qcow2Header header = Qcow2Header.parse(file, true);
        Qcow2Checker checker = new Qcow2Checker(file, out);
        try {
            checker.run(header);
        } catch (CheckAbort e) {
            return new CheckOutcome.Aborted(e.kind, e.reason);
        }
        return new CheckOutcome.Completed(checker.tally.toReport());
    }

    private void run(Qcow2Header header) throws CheckAbort {
        SnapshotTableCheck snapshots = SnapshotTableCheck.read(file, header, false, false, out);
        checkRefcounts(header, snapshots.table());
        tally.corruptions += snapshots.corruptions(); // qemu adds its snapshot_res after the refcount check's
    }

    /** qemu's qcow2_check_refcounts (without repair). */
    private void checkRefcounts(Qcow2Header header, Qcow2SnapshotTable snapshots) throws CheckAbort {
        long fileLength = file.size();
        int clusterBits = header.clusterBits();
        long clusterSize = header.clusterSize();
        long clusters = ceilDiv(fileLength, clusterSize);
        if (clusters > Integer.MAX_VALUE) {
            tally.checkErrors++;
            throw CheckAbort.tooLarge();
        }
        tally.totalClusters = ceilDiv(header.virtualSize(), clusterSize);

        int refcountOrder = (int) header.refcountOrder();
        long tableEntries = header.refcountTableClusters() << clusterBits >>> 3;
        StoredRefcounts stored = new StoredRefcounts(file, clusterBits, refcountOrder,
                header.refcountTableOffset(), (int) tableEntries);

        ComputedRefcounts refs = new ComputedRefcounts(clusters, refcountMax(header.refcountBits()));
        ReferenceCounter counter = new ReferenceCounter(file, header, fileLength, refs, tally, out);
        counter.countAll(snapshots, stored);

        RefcountComparison comparison = new RefcountComparison(file, header, fileLength, stored, tally, out);
        long highest = comparison.compare(refs);
        comparison.checkCopiedFlags(Qcow2L1Table.parse(file, header.l1TableOffset(), header.l1Size()));
        tally.imageEndOffset = (highest + 1) * clusterSize;
    }

    private static long refcountMax(int bits) {
        return bits == 64 ? -1L : (1L << bits) - 1;
    }

    private static long ceilDiv(long value, long divisor) {
        return (value + divisor - 1) / divisor;
    }
}
