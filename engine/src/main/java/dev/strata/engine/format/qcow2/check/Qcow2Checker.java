package dev.strata.engine.format.qcow2.check;

/*
 * Design note: the qcow2 consistency check without repair, step for step what qemu's
 * qcow2_co_check_locked does: read the snapshot table the tolerant check-mode way (a broken table
 * stops the check with an internal error), recount every reference to every host cluster
 * (ReferenceCounter), compare with the stored refcounts, check OFLAG_COPIED
 * (RefcountComparison), and add up the counters. Messages go to the CheckListener as they are
 * found, in qemu's order and wording.
 *
 * Memory is bounded by the real file: the recount table covers the file's clusters (plus the
 * one a reference just past EOF may add) and is allocated sparsely; every table qemu would read
 * whole was bounded by header validation, and parts past EOF are never read.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2L1Table;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.check.CheckOutcome;
import dev.strata.engine.storage.Storage;

/** Checks one qcow2 image file (the metadata file; an external data file is not read). */
public final class Qcow2Checker {
    /** qemu's QCOW_MAX_SNAPSHOTS. */
    private static final long MAX_SNAPSHOTS = Qcow2Header.MAX_SNAPSHOTS;
    /** Extra data every v3 snapshot entry must have (64-bit VM state size and disk size). */
    private static final int V3_MIN_EXTRA_DATA = 16;

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
        Qcow2SnapshotTable snapshots = readSnapshotTable(header);
        checkRefcounts(header, snapshots);
    }

    /** qemu's qcow2_check_read_snapshot_table (without repair). */
    private Qcow2SnapshotTable readSnapshotTable(Qcow2Header header) throws CheckAbort {
        long count = header.nbSnapshots();
        long offset = header.snapshotsOffset();
        String invalid = validateTable(header.clusterSize(), offset, count);
        if (invalid != null) {
            tally.checkErrors++;
            out.error("ERROR " + invalid);
            if (count > MAX_SNAPSHOTS) {
                out.line("You can force-remove all " + (count - MAX_SNAPSHOTS)
                        + " overhanging snapshots with qemu-img check -r all");
            }
            throw count > MAX_SNAPSHOTS ? CheckAbort.tooLarge() : CheckAbort.invalid();
        }
        Qcow2SnapshotTable table;
        try {
            table = Qcow2SnapshotTable.parse(file, offset, count);
        } catch (StrataException e) {
            tally.checkErrors++;
            // The message carries qemu's hint line ("You can force-remove ...") after a newline,
            // exactly as error_reportf_err prints message and hint.
            out.error("ERROR failed to read the snapshot table: " + e.getMessage());
            throw e.kind() == ErrorKind.EFBIG ? CheckAbort.tooLarge() : CheckAbort.invalid();
        }
        if (header.version() >= 3) {
            for (int i = 0; i < table.entries().size(); i++) {
                if (table.entries().get(i).extraDataSize() < V3_MIN_EXTRA_DATA) {
                    tally.corruptions++;
                    out.line("ERROR snapshot table entry " + i + " is incomplete");
                }
            }
        }
        return table;
    }

    /** qemu's qcow2_validate_table for the snapshot table in check mode; null when valid. */
    private static String validateTable(int clusterSize, long offset, long entries) {
        if (entries > MAX_SNAPSHOTS) {
            return "snapshot table too large";
        }
        long bytes = entries * Qcow2Header.SNAPSHOT_HEADER_SIZE;
        if (Long.compareUnsigned(Long.MAX_VALUE - bytes, offset) < 0 || (offset & (clusterSize - 1)) != 0) {
            return "snapshot table offset invalid";
        }
        return null;
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
