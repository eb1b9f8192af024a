package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu's qcow2_pre_write_overlap_check with its default "cached" checks: before
 * data (or an L2 slice) is written to the image file, the host range must not overlap the
 * header, the active L1 table, active L2 tables, the refcount table, refcount blocks, the
 * snapshot table, snapshot L1 tables or the bitmap directory. An overlap means the metadata
 * that led there is corrupt: the image is marked corrupt (fatal event) and the write fails
 * with EIO, naming the overlapping kind qemu's check order tests first (header, active L1,
 * refcount table, snapshot table, inactive L1, active L2, refcount block, ...).
 *
 * The map of metadata clusters is built lazily and dropped whenever the writer moves metadata
 * (new L2 table, refcount growth, L1 growth), so a check is one hash lookup per cluster.
 */

import java.util.HashMap;
import java.util.Map;

/** Refuses writes that would overwrite qcow2 metadata. Called under the writer's locks. */
final class Qcow2MetadataGuard {
    /** qemu's metadata_ol_names, by bit number. */
    private static final String[] NAMES = {"qcow2_header", "active L1 table", "active L2 table", "refcount table",
        "refcount block", "snapshot table", "inactive L1 table", "inactive L2 table", "bitmap directory"};
    /**
     * The order qemu's qcow2_check_metadata_overlap tests the kinds in: the first overlapping
     * one in this order is the one it names.
     */
    private static final int[] CHECK_ORDER = {0, 1, 3, 5, 6, 2, 4, 7, 8};
    /** Bit of active L2 tables (not checked when writing an L2 slice). */
    static final int ACTIVE_L2 = 2;

    private final Qcow2WriteState state;
    private final Qcow2SnapshotTable snapshots;
    private volatile Map<Long, Integer> clusters;

    Qcow2MetadataGuard(Qcow2WriteState state, Qcow2SnapshotTable snapshots) {
        this.state = state;
        this.snapshots = snapshots;
    }

    /** Forgets the metadata map (metadata moved). */
    void invalidate() {
        clusters = null;
    }

    /**
     * Throws the EIO of a fatal corruption when {@code [offset, offset+length)} overlaps metadata
     * other than the kind {@code ignoredBit} (-1 for none).
     */
    void check(long offset, long length, int ignoredBit) {
        if (state.externalData && ignoredBit != ACTIVE_L2) {
            return; // guest data goes to the data file, which holds no metadata
        }
        Map<Long, Integer> map = clusters;
        if (map == null) {
            map = build();
            clusters = map;
        }
        long first = offset >>> state.clusterBits;
        long last = (offset + length - 1) >>> state.clusterBits;
        int overlapping = 0;
        for (long c = first; c <= last; c++) {
            Integer mask = map.get(c);
            if (mask != null) {
                overlapping |= ignoredBit >= 0 ? mask & ~(1 << ignoredBit) : mask;
            }
        }
        if (overlapping != 0) {
            throw state.corrupt("Preventing invalid write on metadata (overlaps with " + NAMES[first(overlapping)] + ")");
        }
    }

    /** The kind qemu names among the overlapping ones. */
    private static int first(int overlapping) {
        for (int bit : CHECK_ORDER) {
            if ((overlapping & (1 << bit)) != 0) {
                return bit;
            }
        }
        throw new IllegalArgumentException("no overlap");
    }

    private Map<Long, Integer> build() {
        Map<Long, Integer> map = new HashMap<>();
        add(map, 0, state.clusterSize, 0);
        Qcow2L1Table l1 = state.l1;
        add(map, l1.offset(), l1.size() * 8, 1);
        for (long i = 0; i < l1.size(); i++) {
            long l2 = l1.l2Offset(i);
            if (l2 != 0) {
                add(map, l2, state.clusterSize, 2);
            }
        }
        Qcow2RefcountWriter rc = state.refcounts;
        add(map, rc.tableOffset(), rc.tableClusters() << state.clusterBits, 3);
        for (long block : rc.blockOffsets()) {
            add(map, block, state.clusterSize, 4);
        }
        Qcow2Header h = state.header;
        if (h.nbSnapshots() > 0) {
            add(map, snapshots.offset(), snapshots.size(), 5);
            for (Qcow2SnapshotTable.Entry e : snapshots.entries()) {
                add(map, e.l1TableOffset(), e.l1Size() * 8, 6);
            }
        }
        Qcow2HeaderExtension.BitmapsExtension b = h.bitmapsConsistent() ? h.bitmapsExtension() : null;
        if (b != null && b.directorySize() > 0) {
            add(map, b.directoryOffset(), b.directorySize(), 8);
        }
        return map;
    }

    private void add(Map<Long, Integer> map, long offset, long length, int bit) {
        if (length <= 0) {
            return;
        }
        long first = offset >>> state.clusterBits;
        long last = (offset + length - 1) >>> state.clusterBits;
        for (long c = first; c <= last; c++) {
            // get/put rather than merge with a lambda: the map is built in every writing command's
            // first write (see HostFiles.Binding on lambdas at start-up).
            Integer had = map.get(c);
            map.put(c, had == null ? 1 << bit : had | 1 << bit);
        }
    }
}
