package dev.strata.engine.format.qcow2.check;

/*
 * Design note: qemu-img check -r for qcow2, the path of qcow2_co_check_locked and
 * qcow2_check_refcounts with a fix mode, in qemu 7.2's order:
 *
 *  - recount every reference (ReferenceCounter); with -r all this repairs what qemu repairs while
 *    counting (unaligned preallocated L2 entries become zero clusters, a refcount block pointer
 *    past the end of the file grows the file) and notes damaged refcount blocks (rebuild needed);
 *  - compare without fixing (RefcountComparison prints "Leaked cluster"/"ERROR cluster" lines; a
 *    referenced cluster with stored refcount 0 means a rebuild; an unaligned refcount block is a
 *    fatal corruption event: the image is marked corrupt);
 *  - rebuild needed: with -r all, "Rebuilding refcount structure", a new structure placed as qemu
 *    places it (RefcountRebuild), a recount, and a leak-fixing comparison that frees the old
 *    structure (its leaks are not reported as fixed, as in qemu); with -r leaks, "ERROR need to
 *    rebuild refcount structures" and the check fails (EIO);
 *  - otherwise, if anything differed, the counters are reset to before the comparison and it runs
 *    again fixing (RefcountFixer);
 *  - OFLAG_COPIED is checked and repaired (CopiedFlagRepair);
 *  - with no corruption or check error left, the dirty and corrupt header bits are cleared
 *    (qcow2_mark_clean, qcow2_mark_consistent).
 *
 * A repair write that qemu's overlap check would stop (the old metadata is what it protects:
 * MetadataOverlap) is a fatal corruption event, as in qemu: the image is marked corrupt and the
 * check fails. Like qemu-img, which closes the image after the check (qcow2_inactivate), check
 * -r clears the dirty bit at the end unless the image was marked corrupt.
 *
 * The snapshot table is read first as qemu's qcow2_check_read_snapshot_table reads it
 * (SnapshotTableCheck: with -r all, entries past 65536 or past a too-big table are dropped from
 * the header's count at once, extra data over 1024 bytes is cut); its own counters are added to
 * the refcount check's at the end. With -r all, when reading it counted corruptions, the table is
 * written again after the OFLAG_COPIED pass (SnapshotTableRewrite, qcow2_check_fix_snapshot_table).
 *
 * A dry run of the counting (no writes, output kept back) comes first, so that what strata cannot
 * do as qemu does is refused before anything is printed or written: growing the file past 1 TiB
 * for a refcount block pointer, refcount writes qemu's overlap check would stop when its cache
 * writes them back, and a snapshot table rewrite for which qemu would make a new refcount block
 * (RepairWriteForecast). The check then ends as aborted (ENOTSUP):
 * "repairing ... is not supported by strata-img; the image was not changed".
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.format.qcow2.Qcow2FeatureBits;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2L1Table;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.check.CheckOutcome;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.List;

/** Checks and repairs one qcow2 image file opened read-write. */
public final class Qcow2Repair {
    /** Offset of incompatible_features in a v3 header. */
    private static final int INCOMPATIBLE_FEATURES_FIELD = 72;
    /** How far strata lets a repair grow the file (qemu has no limit but the file system's). */
    private static final long MAX_GROWN_FILE = 1L << 40;

    private final Storage file;
    private final Qcow2Header header;
    private final RepairMode mode;
    private final CheckListener out;
    private final RepairTally tally = new RepairTally();
    /** Whether a fatal corruption event was signalled (qemu then suppresses later ones). */
    private boolean corruptionSignaled;
    /** The refcount blocks whose write-back qemu's overlap check stops (foreseen by the dry run). */
    private List<RepairWriteForecast.StoppedBlock> stoppedBlocks = List.of();

    private Qcow2Repair(Storage file, Qcow2Header header, RepairMode mode, CheckListener out) {
        this.file = file;
        this.header = header;
        this.mode = mode;
        this.out = out;
    }

    /**
     * Checks {@code file} and repairs what {@code mode} allows, as qemu-img check -r does before
     * its second, plain check, including what qemu does when it closes the image afterwards
     * (the dirty bit is cleared unless the image was marked corrupt).
     *
     * @param file the image file, opened read-write (the caller has opened the image as
     *             qemu-img check opens it)
     * @return the outcome of this first pass; its report carries leaks and corruptions fixed
     *         or an abort: qemu's (EIO, ...) or, before anything was printed or written,
     *         ENOTSUP for inconsistencies whose repair is not implemented
     */
    public static CheckOutcome repair(Storage file, RepairMode mode, CheckListener out) {
        return repair(file, mode, out, true);
    }

    /**
     * The repair qemu's open runs on a dirty image opened read-write (BDRV_FIX_ERRORS |
     * BDRV_FIX_LEAKS); the image stays open, so nothing of the close happens here.
     *
     * @return as {@link #repair(Storage, RepairMode, CheckListener)}; qemu fails the open when
     *         this is aborted or reports check errors
     */
    public static CheckOutcome repairOnOpen(Storage file, CheckListener out) {
        return repair(file, RepairMode.ALL, out, false);
    }

    private static CheckOutcome repair(Storage file, RepairMode mode, CheckListener out, boolean close) {
        Qcow2Header header = Qcow2Header.parse(file, true);
        Qcow2Repair r = new Qcow2Repair(file, header, mode, out);
        try {
            r.refuseWhatStrataCannotRepair();
        } catch (CheckAbort e) {
            return new CheckOutcome.Aborted(e.kind, e.reason); // nothing written
        }
        CheckOutcome outcome;
        try {
            r.run(SnapshotTableCheck.read(file, header, mode == RepairMode.ALL, true, out));
            outcome = new CheckOutcome.Completed(r.tally.toReport());
        } catch (CheckAbort e) {
            outcome = new CheckOutcome.Aborted(e.kind, e.reason);
        }
        if (close && !r.corruptionSignaled) {
            r.clearHeaderBits(Qcow2FeatureBits.INCOMPAT_DIRTY); // qcow2_inactivate's qcow2_mark_clean
        }
        file.flush();
        return outcome;
    }

    /** The repair's own pass, writing as qemu writes. */
    private void run(SnapshotTableCheck snapshotCheck) throws CheckAbort {
        Qcow2SnapshotTable snapshots = snapshotCheck.table();
        List<SnapshotTableRewrite.UnwrittenBlock> unwritten =
                SnapshotTableRewrite.UnwrittenBlock.capture(file, stoppedBlocks, header.clusterSize());
        long fileLength = file.size();
        long clusterSize = header.clusterSize();
        tally.check.totalClusters = (header.virtualSize() + clusterSize - 1) / clusterSize;
        StoredRefcounts stored = storedRefcounts(header);
        ComputedRefcounts refs = newRefcounts(fileLength);
        MetadataOverlap overlap = overlapOf(snapshots, stored);
        ReferenceCounter counter = new ReferenceCounter(file, header, fileLength, refs, tally.check, out);
        if (mode == RepairMode.ALL) {
            counter.repairingWith(new FileRepairs(overlap));
        }
        counter.countAll(snapshots, stored);
        tally.corruptionsFixed += counter.corruptionsFixed();

        CheckTally beforeCompare = tally.snapshot();
        RefcountComparison comparison = new RefcountComparison(file, header, counter.fileLength(), stored, tally.check,
                out).fatalOnCorruption(this::signalCorruption);
        long highest = comparison.compare(refs);
        boolean rebuild = counter.needsRebuild() || comparison.needsRebuild();
        if (rebuild && mode == RepairMode.ALL) {
            highest = rebuildStructure(refs, overlap, snapshots);
        } else {
            if (rebuild) {
                out.line("ERROR need to rebuild refcount structures");
                tally.check.checkErrors++;
                throw CheckAbort.io();
            }
            if (tally.check.leaks > 0 || tally.check.corruptions > 0) {
                tally.check = beforeCompare;
                highest = new RefcountFixer(file, header, out).run(refs, true, mode == RepairMode.ALL, tally);
            }
        }
        Qcow2Header now = Qcow2Header.parse(file, true);
        boolean repairFlags = mode == RepairMode.ALL
                || (tally.check.checkErrors == 0 && tally.check.corruptions == 0 && tally.check.leaks == 0);
        StoredRefcounts storedNow = storedRefcounts(now);
        new CopiedFlagRepair(file, now, file.size(), storedNow, tally, out, overlapOf(snapshots, storedNow),
                this::signalCorruption).run(repairFlags);
        tally.check.imageEndOffset = (highest + 1) * clusterSize;
        if (mode == RepairMode.ALL && snapshotCheck.corruptions() > 0) {
            new SnapshotTableRewrite(file, snapshotCheck, this::signalCorruption, out, unwritten).run();
        }
        tally.check.corruptions += snapshotCheck.corruptions(); // qemu adds its snapshot_res last
        tally.check.checkErrors += snapshotCheck.checkErrors();
        tally.corruptionsFixed += snapshotCheck.corruptionsFixed();
        if (tally.check.checkErrors == 0 && tally.check.corruptions == 0) {
            clearHeaderBits(Qcow2FeatureBits.INCOMPAT_DIRTY | Qcow2FeatureBits.INCOMPAT_CORRUPT);
        }
    }

    /**
     * qemu's rebuild branch of qcow2_check_refcounts: the new structure, a recount against it,
     * and a leak-fixing comparison that frees the old structure.
     *
     * @return the highest cluster in use
     */
    private long rebuildStructure(ComputedRefcounts refs, MetadataOverlap overlap, Qcow2SnapshotTable snapshots)
            throws CheckAbort {
        out.line("Rebuilding refcount structure");
        CheckTally old = tally.snapshot();
        RefcountRebuild plan = RefcountRebuild.plan(refs, header.clusterBits(), (int) header.refcountOrder());
        int stop = firstOverlap(plan, overlap);
        if (stop >= 0) {
            // qemu's overlap check stops this write (the old structure is what it protects)
            plan.apply(file, stop);
            RefcountRebuild.Write w = plan.writes().get(stop);
            signalCorruption("Preventing invalid write on metadata (overlaps with "
                    + overlap.overlap(w.offset(), w.data().length, false).qemuName + ")");
            out.error(plan.writes().get(stop).reftable() ? "ERROR writing reftable: Input/output error"
                    : "ERROR writing refblock: Input/output error");
            tally.check.checkErrors++;
            throw CheckAbort.io();
        }
        plan.apply(file, plan.writes().size());
        tally.check.corruptions = 0;
        tally.check.leaks = 0;

        Qcow2Header rebuilt = Qcow2Header.parse(file, true);
        refs.clear();
        new ReferenceCounter(file, rebuilt, file.size(), refs, tally.check, out)
                .countAll(snapshots, storedRefcounts(rebuilt));

        // The old structure is leaked now: fix that; only leaks it could not fix are reported.
        RepairTally scratch = new RepairTally();
        RefcountFixer fixer = new RefcountFixer(file, rebuilt, out);
        long highest = fixer.run(refs, true, false, scratch);
        if (fixer.needsRebuild()) {
            out.line("ERROR rebuilt refcount structure is still broken");
        }
        if (tally.check.corruptions < old.corruptions) {
            tally.corruptionsFixed += old.corruptions - tally.check.corruptions;
        }
        if (tally.check.leaks < old.leaks) {
            tally.leaksFixed += old.leaks - tally.check.leaks;
        }
        tally.check.leaks += scratch.check.leaks;
        return highest;
    }

    /** Index of the first planned write qemu's overlap check would stop, or -1. */
    private static int firstOverlap(RefcountRebuild plan, MetadataOverlap overlap) {
        for (int i = 0; i < plan.writes().size(); i++) {
            RefcountRebuild.Write w = plan.writes().get(i);
            if (overlap.overlap(w.offset(), w.data().length, false) != null) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The dry run: the same counting without writing or printing, to refuse (before anything
     * happens) what strata cannot repair the way qemu does.
     */
    private void refuseWhatStrataCannotRepair() throws CheckAbort {
        long fileLength = file.size();
        if ((fileLength + header.clusterSize() - 1) / header.clusterSize() > Integer.MAX_VALUE) {
            throw notSupported("an image file this large");
        }
        CheckTally dry = new CheckTally();
        CheckListener silent = CheckListener.ignoring();
        SnapshotTableCheck snapshotCheck;
        try {
            snapshotCheck = SnapshotTableCheck.read(file, header, mode == RepairMode.ALL, false, silent);
        } catch (CheckAbort e) {
            return; // the real run stops at the same place, printing what qemu prints
        }
        Qcow2SnapshotTable snapshots = snapshotCheck.table();
        StoredRefcounts stored = storedRefcounts(header);
        ComputedRefcounts refs = newRefcounts(fileLength);
        DryRepairs repairs = new DryRepairs();
        ReferenceCounter counter = new ReferenceCounter(file, header, fileLength, refs, dry, silent);
        if (mode == RepairMode.ALL) {
            counter.repairingWith(repairs);
        }
        try {
            counter.countAll(snapshots, stored);
        } catch (CheckAbort e) {
            return; // the real run stops at the same place, printing what qemu prints
        }
        if (repairs.grownTo > MAX_GROWN_FILE) {
            throw notSupported("a refcount block pointer this far past the end of the file");
        }
        RepairWriteForecast.Outcome forecast = new RepairWriteForecast(file, header, mode, stored)
                .forecast(snapshotCheck, refs, counter.fileLength(), counter.needsRebuild());
        if (forecast.refusal() != null) {
            throw notSupported(forecast.refusal());
        }
        stoppedBlocks = forecast.stopped();
    }

    private StoredRefcounts storedRefcounts(Qcow2Header h) {
        long entries = h.refcountTableClusters() << h.clusterBits() >>> 3;
        return new StoredRefcounts(file, h.clusterBits(), (int) h.refcountOrder(), h.refcountTableOffset(),
                (int) entries);
    }

    private ComputedRefcounts newRefcounts(long fileLength) {
        long clusters = (fileLength + header.clusterSize() - 1) / header.clusterSize();
        int bits = header.refcountBits();
        return new ComputedRefcounts(clusters, bits == 64 ? -1L : (1L << bits) - 1);
    }

    private MetadataOverlap overlapOf(Qcow2SnapshotTable snapshots, StoredRefcounts stored) {
        long[] l1 = Qcow2L1Table.parse(file, header.l1TableOffset(), header.l1Size()).stored();
        return new MetadataOverlap(header, l1, snapshots, stored);
    }

    /**
     * qcow2_signal_corruption on an image open read-write: the fatal line (once) and
     * qcow2_mark_corrupt (v2 headers have no feature bits).
     */
    private void signalCorruption(String reason) {
        if (corruptionSignaled) {
            return;
        }
        corruptionSignaled = true;
        out.line("qcow2: Marking image as corrupt: " + reason + "; further corruption events will be suppressed");
        if (header.version() >= 3) {
            long bits = Qcow2Header.parse(file, true).incompatibleFeatures() | Qcow2FeatureBits.INCOMPAT_CORRUPT;
            file.write(ByteBuffer.allocate(8).putLong(0, bits), INCOMPATIBLE_FEATURES_FIELD);
        }
    }

    /** Clears incompatible feature bits (qcow2_mark_clean, qcow2_mark_consistent; v3 only). */
    private void clearHeaderBits(long which) {
        if (header.version() < 3) {
            return;
        }
        long bits = Qcow2Header.parse(file, true).incompatibleFeatures();
        long cleared = bits & ~which;
        if (cleared != bits) {
            file.write(ByteBuffer.allocate(8).putLong(0, cleared), INCOMPATIBLE_FEATURES_FIELD);
        }
    }

    private static CheckAbort notSupported(String what) {
        return new CheckAbort(ErrorKind.ENOTSUP, "repairing " + what + " is not supported by strata-img;"
                + " the image was not changed");
    }

    /** The counting repairs, written to the file. */
    private final class FileRepairs implements ReferenceCounter.CountingRepairs {
        private final MetadataOverlap overlap;

        FileRepairs(MetadataOverlap overlap) {
            this.overlap = overlap;
        }

        @Override
        public boolean writeL2Entry(long offset, byte[] entry, boolean active) {
            MetadataOverlap.Kind kind = overlap.overlap(offset, entry.length, active);
            if (kind != null) {
                signalCorruption("Preventing invalid write on metadata (overlaps with " + kind.qemuName + ")");
                return false;
            }
            file.write(ByteBuffer.wrap(entry), offset);
            file.flush();
            return true;
        }

        @Override
        public void growFile(long length) {
            file.truncate(length);
        }
    }

    /** The counting repairs of the dry run: nothing written, the file's growth noted. */
    private static final class DryRepairs implements ReferenceCounter.CountingRepairs {
        long grownTo;

        @Override
        public boolean writeL2Entry(long offset, byte[] entry, boolean active) {
            return true;
        }

        @Override
        public void growFile(long length) {
            grownTo = Math.max(grownTo, length);
        }
    }
}
