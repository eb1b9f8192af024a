package dev.strata.engine.format.qcow2.check;

/*
 * Design note: qemu 7.2's qcow2_check_read_snapshot_table, the first step of every qcow2 check,
 * with its own counters (qemu's snapshot_res, added to the refcount check's after it):
 *
 *  - with BDRV_FIX_ERRORS (-r all), a count over 65536 is cut to 65536 first ("Discarding N
 *    overhanging snapshots");
 *  - the table pointer is validated (qcow2_validate_table): too many entries or an offset that is
 *    unaligned or too large is a check error that stops the check, with the hint to force-remove
 *    the overhanging snapshots when there are too many;
 *  - the table is read (SnapshotTableScan; with -r all it cuts what is too big); a failure is a
 *    check error that stops the check;
 *  - entries cut off the end count as corruptions fixed once the header's count is rewritten
 *    (qemu does that at once, before the refcounts are checked, leaking what they used); cut
 *    extra data counts as a corruption until the table is written again;
 *  - on v3 images, each entry with less than 16 bytes of extra data is a corruption
 *    ("Repairing/ERROR snapshot table entry N is incomplete").
 * The table is written again later, after the refcount check (SnapshotTableRewrite), when the
 * corruptions counted here remain and errors are being fixed.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** The snapshot table as the check read it, with what reading it found. */
final class SnapshotTableCheck {
    /** Offset of nb_snapshots in the header (snapshots_offset follows). */
    static final int HEADER_NB_SNAPSHOTS = 60;
    private static final long MAX_SNAPSHOTS = Qcow2Header.MAX_SNAPSHOTS;

    private final long offset;
    private final long size;
    private final List<CheckedSnapshot> snapshots;
    /** qemu's snapshot_res counters. */
    private long corruptions;
    private long corruptionsFixed;
    private long checkErrors;

    private SnapshotTableCheck(long offset, long size, List<CheckedSnapshot> snapshots) {
        this.offset = offset;
        this.size = size;
        this.snapshots = snapshots;
    }

    /**
     * Reads and checks the snapshot table of {@code file} as qemu's check does.
     *
     * @param header      the header (parsed in check mode)
     * @param fixErrors   qemu's BDRV_FIX_ERRORS (-r all)
     * @param writeHeader whether a count cut by the repair is written to the header (false for
     *                    a dry run, which must not write)
     * @param out         receives qemu's diagnostics
     * @throws CheckAbort where qemu's check stops (EFBIG, EINVAL, EIO), after printing why
     */
    static SnapshotTableCheck read(Storage file, Qcow2Header header, boolean fixErrors, boolean writeHeader,
                                   CheckListener out) throws CheckAbort {
        long count = header.nbSnapshots();
        long tableOffset = header.snapshotsOffset();
        long reduced = 0;
        if (count > MAX_SNAPSHOTS && fixErrors) {
            out.line("Discarding " + (count - MAX_SNAPSHOTS) + " overhanging snapshots");
            reduced = count - MAX_SNAPSHOTS;
            count = MAX_SNAPSHOTS;
        }
        String invalid = validate(header.clusterSize(), tableOffset, count);
        if (invalid != null) {
            out.error("ERROR " + invalid);
            if (count > MAX_SNAPSHOTS) {
                out.line("You can force-remove all " + (count - MAX_SNAPSHOTS)
                        + " overhanging snapshots with qemu-img check -r all");
            }
            throw count > MAX_SNAPSHOTS ? CheckAbort.tooLarge() : CheckAbort.invalid();
        }
        SnapshotTableScan.Result scan;
        try {
            scan = SnapshotTableScan.read(file, tableOffset, count, header.virtualSize() & ~511L, fixErrors, out);
        } catch (StrataException e) {
            // The message carries qemu's hint line after a newline, as error_reportf_err prints it.
            out.error("ERROR failed to read the snapshot table: " + e.getMessage());
            throw e.kind() == ErrorKind.EFBIG ? CheckAbort.tooLarge() : CheckAbort.io();
        }
        reduced += scan.reducedBy();
        SnapshotTableCheck check = new SnapshotTableCheck(tableOffset, scan.size(), scan.snapshots());
        check.corruptions = reduced + scan.extraDataCut();
        if (reduced > 0) {
            if (writeHeader) {
                // qemu writes the new count at once (bdrv_pwrite_sync)
                file.write(ByteBuffer.allocate(4).putInt(0, scan.snapshots().size()), HEADER_NB_SNAPSHOTS);
                file.flush();
            }
            check.corruptionsFixed += reduced;
            check.corruptions -= reduced;
        }
        if (header.version() >= 3) {
            List<CheckedSnapshot> all = scan.snapshots();
            for (int i = 0; i < all.size(); i++) {
                if (all.get(i).extraData().length < CheckedSnapshot.V3_MIN_EXTRA_DATA) {
                    check.corruptions++;
                    out.line((fixErrors ? "Repairing" : "ERROR") + " snapshot table entry " + i + " is incomplete");
                }
            }
        }
        return check;
    }

    /** qemu's qcow2_validate_table for the snapshot table; null when valid. */
    private static String validate(long clusterSize, long offset, long entries) {
        if (entries > MAX_SNAPSHOTS) {
            return "snapshot table too large";
        }
        long bytes = entries * Qcow2Header.SNAPSHOT_HEADER_SIZE;
        if (Long.compareUnsigned(Long.MAX_VALUE - bytes, offset) < 0 || (offset & (clusterSize - 1)) != 0) {
            return "snapshot table offset invalid";
        }
        return null;
    }

    /** The table in the form the reference counter and the overlap check read. */
    Qcow2SnapshotTable table() {
        List<Qcow2SnapshotTable.Entry> entries = new ArrayList<>(snapshots.size());
        for (CheckedSnapshot s : snapshots) {
            entries.add(s.toTableEntry());
        }
        return new Qcow2SnapshotTable(offset, entries, size);
    }

    /** The entries kept, in table order. */
    List<CheckedSnapshot> snapshots() {
        return snapshots;
    }

    /** Host offset of the table as read. */
    long offset() {
        return offset;
    }

    /** Bytes of the table as read (what qemu frees when it writes the table again). */
    long size() {
        return size;
    }

    /** Corruptions this step found and that are still there. */
    long corruptions() {
        return corruptions;
    }

    /** Corruptions this step (and the rewrite) fixed. */
    long corruptionsFixed() {
        return corruptionsFixed;
    }

    /** Check errors of the rewrite. */
    long checkErrors() {
        return checkErrors;
    }

    /** Records that the table was written again: every corruption counted here is fixed. */
    void rewritten() {
        corruptionsFixed += corruptions;
        corruptions = 0;
    }

    /** Records a failed rewrite (qemu's check_errors++). */
    void rewriteFailed() {
        checkErrors++;
    }
}
