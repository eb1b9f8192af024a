package dev.strata.engine.format.qcow2.check;

/*
 * Design note: qemu's qcow2_check_metadata_overlap with the default "cached" checks, as it stands
 * while a repair runs: the metadata is the one qemu loaded when it opened the image (header,
 * active L1 table and its L2 tables, the refcount table and every block it points to, even
 * damaged pointers, the snapshot table and snapshot L1 tables, the bitmap directory). Repairs
 * that write (refcount rebuild, L2 entry fixes) must not touch it: qemu would mark the image
 * corrupt ("Preventing invalid write on metadata (overlaps with KIND)") and fail the write.
 * Ranges are compared byte-wise after rounding the write out to whole clusters, as qemu does.
 */

import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2HeaderExtension;
import dev.strata.engine.format.qcow2.Qcow2L2Entry;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;

import java.util.ArrayList;
import java.util.List;

/** The metadata ranges qemu's overlap check protects during a repair. */
final class MetadataOverlap {
    /** The kinds in the order qemu checks them, with qemu's names (metadata_ol_names). */
    enum Kind {
        HEADER("qcow2_header"), ACTIVE_L1("active L1 table"), REFCOUNT_TABLE("refcount table"),
        SNAPSHOT_TABLE("snapshot table"), INACTIVE_L1("inactive L1 table"), ACTIVE_L2("active L2 table"),
        REFCOUNT_BLOCK("refcount block"), BITMAP_DIRECTORY("bitmap directory");

        final String qemuName;

        Kind(String qemuName) {
            this.qemuName = qemuName;
        }
    }

    private record Range(long offset, long length, Kind kind) {
    }

    private final long clusterSize;
    private final List<Range> ranges = new ArrayList<>();

    /**
     * @param l1       the active L1 table's entries as loaded
     * @param reftable the refcount table as loaded
     */
    MetadataOverlap(Qcow2Header header, long[] l1, Qcow2SnapshotTable snapshots, StoredRefcounts reftable) {
        this.clusterSize = header.clusterSize();
        add(0, clusterSize, Kind.HEADER);
        add(header.l1TableOffset(), header.l1Size() * 8, Kind.ACTIVE_L1);
        add(header.refcountTableOffset(), (long) reftable.tableEntries() * 8, Kind.REFCOUNT_TABLE);
        add(snapshots.offset(), snapshots.size(), Kind.SNAPSHOT_TABLE);
        for (Qcow2SnapshotTable.Entry sn : snapshots.entries()) {
            add(sn.l1TableOffset(), sn.l1Size() * 8, Kind.INACTIVE_L1);
        }
        for (long entry : l1) {
            long l2 = entry & Qcow2L2Entry.L1_OFFSET_MASK;
            if (l2 != 0) {
                add(l2, clusterSize, Kind.ACTIVE_L2);
            }
        }
        for (int i = 0; i < reftable.tableEntries(); i++) {
            long block = reftable.tableEntry(i) & StoredRefcounts.REFT_OFFSET_MASK;
            if (block != 0) {
                add(block, clusterSize, Kind.REFCOUNT_BLOCK);
            }
        }
        Qcow2HeaderExtension.BitmapsExtension bitmaps = header.bitmapsExtension();
        if (bitmaps != null && header.bitmapsConsistent()) {
            add(bitmaps.directoryOffset(), bitmaps.directorySize(), Kind.BITMAP_DIRECTORY);
        }
    }

    private void add(long offset, long length, Kind kind) {
        if (length > 0) {
            ranges.add(new Range(offset, length, kind));
        }
    }

    /**
     * The metadata that writing {@code [offset, offset + length)} overlaps (the first kind in
     * qemu's order), or null.
     *
     * @param ignoreActiveL2 true for a write into an active L2 table (qemu's ign bit)
     */
    Kind overlap(long offset, long length, boolean ignoreActiveL2) {
        return overlap(offset, length, ignoreActiveL2 ? Kind.ACTIVE_L2 : null);
    }

    /**
     * The metadata that writing {@code [offset, offset + length)} overlaps, leaving out one kind
     * (qemu's ign bit: a refcount block written back from its cache is not checked against the
     * refcount blocks), or null.
     *
     * @param ignored the kind left out, or null for none
     */
    Kind overlap(long offset, long length, Kind ignored) {
        if (length == 0) {
            return null;
        }
        Kind found = null;
        long start = offset & -clusterSize;
        long end = saturatedAdd(saturatedAdd(offset, length), clusterSize - 1);
        end = end == -1L ? end : end & -clusterSize;
        for (Range r : ranges) {
            if (r.kind() == ignored) {
                continue;
            }
            long rEnd = saturatedAdd(r.offset(), r.length());
            if (Long.compareUnsigned(start, rEnd) < 0 && Long.compareUnsigned(r.offset(), end) < 0
                    && (found == null || r.kind().ordinal() < found.ordinal())) {
                found = r.kind();
            }
        }
        return found;
    }

    private static long saturatedAdd(long a, long b) {
        long sum = a + b;
        return Long.compareUnsigned(sum, a) < 0 ? -1L : sum;
    }
}
