package dev.strata.engine.format.qcow2.check;

/*
 * Design note: qemu-img check -r for qcow2, the path of qcow2_co_check_locked and
 * qcow2_check_refcounts with a fix mode, for the inconsistencies it repairs in place:
 *
 *  - recount every reference (ReferenceCounter, as the plain check);
 *  - compare without fixing (RefcountComparison prints "Leaked cluster"/"ERROR cluster" lines);
 *  - a referenced cluster with stored refcount 0 needs the refcount structure rebuilt: with
 *    -r leaks qemu says "ERROR need to rebuild refcount structures" and the check fails (EIO);
 *  - otherwise, if anything differed, the counters are reset to before the comparison and it
 *    runs again fixing: refcounts too high (leaks; both modes) and, with -r all, too low
 *    (corruptions) are set to the recounted value through the write path's refcount code
 *    (update_refcount; clusters dropping to zero are punched as qemu's ALWAYS discard does), each
 *    printed as "Repairing cluster ...";
 *  - OFLAG_COPIED is checked and repaired (CopiedFlagRepair);
 *  - with nothing left wrong, the dirty and corrupt header bits are cleared (qcow2_mark_clean,
 *    qcow2_mark_consistent).
 *
 * What qemu repairs in other places is not done here, and refused before anything is written:
 * a rebuild of the refcount structure (-r all on a cluster whose refcount is 0), a damaged
 * snapshot table, corruptions found while counting with -r all (L1/L2 entries, which qemu's
 * calculate_refcounts repairs as it goes; with -r leaks they are only reported, as here), and
 * damaged refcount blocks (qemu rebuilds the structure). The image is then left unchanged and the
 * check ends as aborted (ENOTSUP) with a reason saying so: "Check failed: repairing ... is not
 * supported by strata-img; the image was not changed".
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2FeatureBits;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2RefcountEditor;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.check.CheckOutcome;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** Checks and repairs one qcow2 image file opened read-write. */
public final class Qcow2Repair {
    /** Offset of incompatible_features in a v3 header. */
    private static final int INCOMPATIBLE_FEATURES_FIELD = 72;
    /** Extra data every v3 snapshot entry must have. */
    private static final int V3_MIN_EXTRA_DATA = 16;

    private final Storage file;
    private final Qcow2Header header;
    private final RepairMode mode;
    private final CheckListener out;
    private final RepairTally tally = new RepairTally();

    private Qcow2Repair(Storage file, Qcow2Header header, RepairMode mode, CheckListener out) {
        this.file = file;
        this.header = header;
        this.mode = mode;
        this.out = out;
    }

    /**
     * Checks {@code file} and repairs what {@code mode} allows, as qemu-img check -r does before
     * its second, plain check.
     *
     * @param file the image file, opened read-write (the caller has opened the image as
     *             qemu-img check opens it)
     * @return the outcome of this first pass; its report carries leaks and corruptions fixed
     *         or an abort (ENOTSUP, before anything was written) for inconsistencies whose
     *         repair is not implemented
     */
    public static CheckOutcome repair(Storage file, RepairMode mode, CheckListener out) {
        Qcow2Header header = Qcow2Header.parse(file, true);
        Qcow2Repair r = new Qcow2Repair(file, header, mode, out);
        try {
            r.run();
        } catch (CheckAbort e) {
            return new CheckOutcome.Aborted(e.kind, e.reason);
        }
        file.flush();
        return new CheckOutcome.Completed(r.tally.toReport());
    }

    private void run() throws CheckAbort {
        Qcow2SnapshotTable snapshots = readSnapshotTable();
        long fileLength = file.size();
        int clusterBits = header.clusterBits();
        long clusterSize = header.clusterSize();
        long clusters = (fileLength + clusterSize - 1) / clusterSize;
        if (clusters > Integer.MAX_VALUE) {
            throw notSupported("an image file this large");
        }
        tally.check.totalClusters = (header.virtualSize() + clusterSize - 1) / clusterSize;
        int refcountOrder = (int) header.refcountOrder();
        long tableEntries = header.refcountTableClusters() << clusterBits >>> 3;
        StoredRefcounts stored = new StoredRefcounts(file, clusterBits, refcountOrder, header.refcountTableOffset(),
                (int) tableEntries);
        int bits = header.refcountBits();
        ComputedRefcounts refs = new ComputedRefcounts(clusters, bits == 64 ? -1L : (1L << bits) - 1);
        List<String> found = new ArrayList<>();
        new ReferenceCounter(file, header, fileLength, refs, tally.check, collecting(found))
                .countAll(snapshots, stored);
        boolean refblockDamage = found.stream().anyMatch(line -> line.contains("refcount block"));
        if (tally.check.checkErrors > 0 || refblockDamage
                || (tally.check.corruptions > 0 && mode == RepairMode.ALL)) {
            // -r all repairs these while counting; damaged refcount blocks need a rebuild
            throw notSupported("inconsistencies in the L1/L2 tables, refcount table or bitmaps");
        }
        if (needsRebuild(refs, stored) && mode == RepairMode.ALL) {
            throw notSupported("a rebuild of the refcount structure (a used cluster has refcount 0)");
        }
        // From here on, output and changes are qemu's.
        tally.check = new CheckTally();
        tally.check.totalClusters = (header.virtualSize() + clusterSize - 1) / clusterSize;
        new ReferenceCounter(file, header, fileLength, refs = new ComputedRefcounts(clusters,
                bits == 64 ? -1L : (1L << bits) - 1), tally.check, out).countAll(snapshots, stored);
        CheckTally beforeCompare = tally.snapshot();
        long highest = new RefcountComparison(file, header, fileLength, stored, tally.check, out).compare(refs);
        if (tally.check.checkErrors > 0) {
            throw notSupported("refcount blocks that cannot be read");
        }
        if (needsRebuild(refs, stored)) {
            out.line("ERROR need to rebuild refcount structures");
            tally.check.checkErrors++;
            throw CheckAbort.io();
        }
        if (tally.check.leaks > 0 || tally.check.corruptions > 0) {
            tally.check = beforeCompare;
            fixRefcounts(refs, stored);
        }
        boolean repairFlags = mode == RepairMode.ALL
                || (tally.check.checkErrors == 0 && tally.check.corruptions == 0 && tally.check.leaks == 0);
        StoredRefcounts current = new StoredRefcounts(file, clusterBits, refcountOrder, header.refcountTableOffset(),
                (int) tableEntries);
        new CopiedFlagRepair(file, header, fileLength, current, tally, out).run(repairFlags);
        tally.check.imageEndOffset = (highest + 1) * clusterSize;
        if (tally.check.checkErrors == 0 && tally.check.corruptions == 0) {
            markCleanAndConsistent();
        }
    }

    /** The snapshot table, which must be intact (its repair is not implemented). */
    private Qcow2SnapshotTable readSnapshotTable() throws CheckAbort {
        Qcow2SnapshotTable table;
        try {
            table = Qcow2SnapshotTable.parse(file, header.snapshotsOffset(), header.nbSnapshots());
        } catch (StrataException e) {
            throw notSupported("a damaged snapshot table");
        }
        if (header.version() >= 3) {
            for (Qcow2SnapshotTable.Entry e : table.entries()) {
                if (e.extraDataSize() < V3_MIN_EXTRA_DATA) {
                    throw notSupported("incomplete snapshot table entries");
                }
            }
        }
        return table;
    }

    /** Whether a referenced cluster has stored refcount 0 (qemu's compare_refcounts sets rebuild). */
    private static boolean needsRebuild(ComputedRefcounts refs, StoredRefcounts stored) {
        for (long i = 0; i < refs.size(); i++) {
            if (refs.get(i) == 0) {
                continue;
            }
            try {
                if (stored.get(i) == 0) {
                    return true;
                }
            } catch (StoredRefcounts.UnalignedBlock | StoredRefcounts.UnreadableBlock e) {
                return false; // counted as a check error by the comparison
            }
        }
        return false;
    }

    /** qemu's compare_refcounts with a fix mode (no cluster has stored refcount 0 here). */
    private void fixRefcounts(ComputedRefcounts refs, StoredRefcounts stored) throws CheckAbort {
        Qcow2RefcountEditor editor = new Qcow2RefcountEditor(file, header);
        for (long i = 0; i < refs.size(); i++) {
            long refcount1;
            try {
                refcount1 = stored.get(i);
            } catch (StoredRefcounts.UnalignedBlock | StoredRefcounts.UnreadableBlock e) {
                throw CheckAbort.io(); // excluded before: the comparison found no check errors
            }
            long refcount2 = refs.get(i);
            if (refcount1 == refcount2) {
                continue;
            }
            boolean tooLow = Long.compareUnsigned(refcount1, refcount2) < 0;
            boolean fix = !tooLow || mode == RepairMode.ALL;
            out.line((fix ? "Repairing" : tooLow ? "ERROR" : "Leaked") + " cluster " + i + " refcount="
                    + Long.toUnsignedString(refcount1) + " reference=" + Long.toUnsignedString(refcount2));
            if (fix) {
                try {
                    editor.add(i, refcount2 - refcount1);
                    if (tooLow) {
                        tally.corruptionsFixed++;
                    } else {
                        tally.leaksFixed++;
                    }
                    continue;
                } catch (StrataException e) {
                    // counted below, as qemu counts a failed update_refcount
                }
            }
            if (tooLow) {
                tally.check.corruptions++;
            } else {
                tally.check.leaks++;
            }
        }
    }

    /** qcow2_mark_clean and qcow2_mark_consistent: clears the dirty and corrupt bits (v3 only). */
    private void markCleanAndConsistent() {
        if (header.version() < 3) {
            return;
        }
        long bits = header.incompatibleFeatures();
        long cleared = bits & ~(Qcow2FeatureBits.INCOMPAT_DIRTY | Qcow2FeatureBits.INCOMPAT_CORRUPT);
        if (cleared != bits) {
            file.write(ByteBuffer.allocate(8).putLong(0, cleared), INCOMPATIBLE_FEATURES_FIELD);
        }
    }

    /** A listener that keeps the lines the checker prints (the dry run's findings). */
    private static CheckListener collecting(List<String> lines) {
        return new CheckListener() {
            @Override
            public void line(String text) {
                lines.add(text);
            }

            @Override
            public void error(String message) {
                lines.add(message);
            }

            @Override
            public void raw(String text) {
                lines.add(text);
            }
        };
    }

    private static CheckAbort notSupported(String what) {
        return new CheckAbort(ErrorKind.ENOTSUP, "repairing " + what + " is not supported by strata-img;"
                + " the image was not changed");
    }
}
