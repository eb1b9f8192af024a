package dev.strata.engine.format.qcow2.check;

/*
 * Design note: qemu 7.2's qcow2_check_fix_snapshot_table, which -r all runs after the refcount
 * check when reading the snapshot table counted corruptions (incomplete entries, cut extra
 * data): the whole table is written again by qcow2_write_snapshots, with qemu's steps and order:
 *
 *  1. the new table's size: entries 8-byte aligned, each a 40-byte header, at least 24 bytes of
 *     extra data (64-bit VM state size, disk size, icount; extra data kept beyond that), the id
 *     and the name; more than 64 MiB fails (EFBIG) before anything is written;
 *  2. clusters for it: the first run of free clusters from cluster 0 (alloc_clusters_noref; qemu's
 *     free_cluster_index is 0 in a check), their refcounts raised to 1, flushed. That flush is
 *     where qemu writes back every refcount block the repair changed so far, each through its
 *     overlap check: a block that overlaps other metadata is not written (strata restores its
 *     old bytes), the image is marked corrupt and the rewrite fails (EIO) as in step 3;
 *  3. qemu's overlap check against the metadata in memory (the table as read, its L1 tables, the
 *     active tables, the refcount structure): an overlap marks the image corrupt and fails (EIO);
 *     the clusters are then freed again with discard, but as the image is unusable by then qemu
 *     never writes that refcount change, so only the punch reaches the file;
 *  4. each entry is written (the alignment gaps between entries are not), flushed, then the
 *     header's count and offset in one synchronous write;
 *  5. the old table's clusters lose a reference (OldSnapshotTableFree, with qemu's failures).
 * A failure is a check error: "ERROR failed to update snapshot table: REASON", and the check
 * stops with that errno.
 *
 * Refcounts change through the write path's update_refcount (Qcow2RefcountEditor). That needs
 * the new table's clusters to be covered by refcount blocks already: qemu would make new blocks
 * otherwise, which strata does not do here. The dry run refuses those images beforehand
 * (RepairWriteForecast), so the real run never meets one.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2L1Table;
import dev.strata.engine.format.qcow2.Qcow2RefcountEditor;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/** Writes the snapshot table of an image again, as qemu-img check -r all does. */
final class SnapshotTableRewrite {
    private static final int HEADER = Qcow2Header.SNAPSHOT_HEADER_SIZE;
    private static final int KNOWN = SnapshotTableScan.KNOWN_EXTRA_DATA;

    /** Whether a cluster is in use (refcount not 0), as a refcount source answers it. */
    @FunctionalInterface
    interface ClusterUse {
        /**
         * @throws CheckAbort when the refcount cannot be read
         */
        boolean inUse(long cluster) throws CheckAbort;
    }

    /** Whether a refcount block exists for one range of clusters. */
    @FunctionalInterface
    interface BlockCoverage {
        boolean covers(long blockIndex);
    }

    /**
     * A refcount block the repair changes but qemu never writes: its write-back at the rewrite's
     * flush is stopped by the overlap check (RepairWriteForecast foresees it).
     *
     * @param offset   host offset of the block
     * @param original its bytes before the repair
     * @param kind     the metadata it overlaps
     */
    record UnwrittenBlock(long offset, byte[] original, MetadataOverlap.Kind kind) {
        /** The blocks' bytes now, before the repair writes anything. */
        static List<UnwrittenBlock> capture(Storage file, List<RepairWriteForecast.StoppedBlock> stopped,
                                            int clusterSize) {
            List<UnwrittenBlock> blocks = new ArrayList<>();
            for (RepairWriteForecast.StoppedBlock s : stopped) {
                ByteBuffer b = ByteBuffer.allocate(clusterSize);
                file.read(b, s.offset());
                blocks.add(new UnwrittenBlock(s.offset(), b.array(), s.kind()));
            }
            return blocks;
        }
    }

    private final Storage file;
    private final SnapshotTableCheck table;
    private final Consumer<String> signalCorruption;
    private final CheckListener out;
    private final List<UnwrittenBlock> unwritten;

    /**
     * @param signalCorruption qemu's fatal qcow2_signal_corruption (message without the prefix)
     * @param unwritten        the refcount blocks qemu's flush does not write (all overlapping
     *                         the same kind of metadata)
     */
    SnapshotTableRewrite(Storage file, SnapshotTableCheck table, Consumer<String> signalCorruption,
                         CheckListener out, List<UnwrittenBlock> unwritten) {
        this.file = file;
        this.table = table;
        this.signalCorruption = signalCorruption;
        this.out = out;
        this.unwritten = unwritten;
    }

    /**
     * Writes the table again and records the outcome in the table check's counters.
     *
     * @throws CheckAbort when qemu's write_snapshots fails (the check stops with its errno)
     */
    void run() throws CheckAbort {
        long size = newTableSize(table.snapshots());
        if (size < 0) {
            throw failed(CheckAbort.tooLarge());
        }
        Qcow2Header header = Qcow2Header.parse(file, true);
        int clusterBits = header.clusterBits();
        StoredRefcounts stored = storedRefcounts(header);
        long n = clusters(size, clusterBits);
        long first;
        try {
            first = firstFree(cluster -> storedInUse(stored, cluster), n);
        } catch (CheckAbort e) {
            throw failed(e);
        }
        if (needsNewRefcountBlock(b -> covers(stored, b), stored.blockBits(), first, n)) {
            throw unforeseen();
        }
        Qcow2RefcountEditor refcounts = new Qcow2RefcountEditor(file, header);
        for (long c = first; c < first + n; c++) {
            refcounts.add(c, 1);
        }
        file.flush();

        long offset = first << clusterBits;
        if (!unwritten.isEmpty()) {
            // qemu's flush stops at these blocks: they never reach the file, and the image is marked corrupt
            for (UnwrittenBlock b : unwritten) {
                file.write(ByteBuffer.wrap(b.original()), b.offset());
            }
            signalCorruption.accept("Preventing invalid write on metadata (overlaps with "
                    + unwritten.get(0).kind().qemuName + ")");
            file.punchHole(offset, n << clusterBits);
            throw failed(CheckAbort.io());
        }
        long[] l1 = Qcow2L1Table.parse(file, header.l1TableOffset(), header.l1Size()).stored();
        MetadataOverlap overlap = new MetadataOverlap(header, l1, table.table(), stored);
        MetadataOverlap.Kind kind = overlap.overlap(offset, size, false);
        if (kind != null) {
            signalCorruption.accept("Preventing invalid write on metadata (overlaps with " + kind.qemuName + ")");
            // qemu frees the clusters with discard; the refcount change itself never reaches the file
            file.punchHole(offset, n << clusterBits);
            throw failed(CheckAbort.io());
        }
        writeEntries(offset);
        file.flush();
        file.write(ByteBuffer.allocate(12).putInt(0, table.snapshots().size()).putLong(4, offset),
                SnapshotTableCheck.HEADER_NB_SNAPSHOTS);
        file.flush();
        OldSnapshotTableFree.run(file, header, refcounts, table.offset(), table.size(), first + n, overlap, out);
        table.rewritten();
    }

    /**
     * Whether the rewrite would need a refcount block that does not exist, for the clusters
     * {@code [first, first + n)}.
     */
    static boolean needsNewRefcountBlock(BlockCoverage coverage, int blockBits, long first, long n) {
        if (n <= 0) {
            return false;
        }
        for (long b = first >>> blockBits; b <= (first + n - 1) >>> blockBits; b++) {
            if (!coverage.covers(b)) {
                return true;
            }
        }
        return false;
    }

    /**
     * qemu's alloc_clusters_noref from free_cluster_index 0: the first cluster of the first run
     * of {@code n} clusters not in use.
     */
    static long firstFree(ClusterUse use, long n) throws CheckAbort {
        long next = 0;
        while (true) {
            long found = 0;
            while (found < n) {
                if (use.inUse(next++)) {
                    found = -1;
                    break;
                }
                found++;
            }
            if (found == n) {
                return next - n;
            }
        }
    }

    /** The size qcow2_write_snapshots computes for these entries, or -1 past 64 MiB (EFBIG). */
    static long newTableSize(List<CheckedSnapshot> snapshots) {
        long size = 0;
        for (CheckedSnapshot s : snapshots) {
            size = (size + 7) & ~7L;
            size += HEADER + Math.max(KNOWN, s.extraData().length) + s.id().length + s.name().length;
            if (size > Qcow2SnapshotTable.MAX_TABLE_SIZE) {
                return -1;
            }
        }
        return size;
    }

    /** Clusters {@code bytes} take from a cluster boundary. */
    static long clusters(long bytes, int clusterBits) {
        return (bytes + (1L << clusterBits) - 1) >>> clusterBits;
    }

    /** Clusters {@code [offset, offset + size)} touches (0 for an empty range). */
    static long clustersTouched(long offset, long size, int clusterBits) {
        if (size == 0) {
            return 0;
        }
        return ((offset + size - 1) >>> clusterBits) - (offset >>> clusterBits) + 1;
    }

    /** One write per entry: header, extra data, id, name (the alignment gaps stay as they are). */
    private void writeEntries(long tableOffset) {
        long at = tableOffset;
        for (CheckedSnapshot s : table.snapshots()) {
            at = (at + 7) & ~7L;
            byte[] unknownExtra = s.extraData().length > KNOWN
                    ? Arrays.copyOfRange(s.extraData(), KNOWN, s.extraData().length) : new byte[0];
            ByteBuffer e = Qcow2SnapshotTable.encodeEntry(s.l1TableOffset(), s.l1Size(), s.id(), s.name(),
                    s.dateSec(), s.dateNsec(), s.vmClockNsec(), s.vmStateSize(), s.diskSize(), s.icount(), unknownExtra);
            file.write(e, at);
            at += e.capacity();
        }
    }

    /** A refcount block qemu would make: the dry run refuses these, so its forecast was wrong. */
    static CheckAbort unforeseen() {
        return new CheckAbort(ErrorKind.ENOTSUP, "repairing a snapshot table whose rewrite needs a new refcount"
                + " block is not supported by strata-img");
    }

    private CheckAbort failed(CheckAbort reason) {
        out.line("ERROR failed to update snapshot table: " + reason.reason);
        table.rewriteFailed();
        return reason;
    }

    private StoredRefcounts storedRefcounts(Qcow2Header h) {
        long entries = h.refcountTableClusters() << h.clusterBits() >>> 3;
        return new StoredRefcounts(file, h.clusterBits(), (int) h.refcountOrder(), h.refcountTableOffset(),
                (int) entries);
    }

    /** Whether a stored refcount is not 0; an unreadable one stops the check (EIO), as in qemu. */
    static boolean storedInUse(StoredRefcounts stored, long cluster) throws CheckAbort {
        try {
            return stored.get(cluster) != 0;
        } catch (StoredRefcounts.UnalignedBlock | StoredRefcounts.UnreadableBlock e) {
            throw CheckAbort.io();
        }
    }

    /** Whether the stored refcount table has a usable block for range {@code blockIndex}. */
    static boolean covers(StoredRefcounts stored, long blockIndex) {
        try {
            return stored.blockAt(blockIndex) != null;
        } catch (StoredRefcounts.UnalignedBlock | StoredRefcounts.UnreadableBlock e) {
            return false;
        }
    }
}
