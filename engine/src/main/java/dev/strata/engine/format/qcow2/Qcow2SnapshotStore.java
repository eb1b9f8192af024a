package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu 7.2's block/qcow2-snapshot.c on an image file opened read-write with nothing
 * pending over it (no writer, or the open image's writer flushed and left idle while the store
 * works): snapshot create, goto (apply) and delete, in qemu's order and with qemu's
 * crash-safety barriers, so that the bytes written are the bytes qemu writes.
 *
 *  - create: a new id (largest id read as strtoul, plus one); the active L1 table copied into
 *    newly allocated clusters; every cluster the active table reaches gains a reference
 *    (Qcow2SnapshotRefcounts, which also clears OFLAG_COPIED where refcounts pass 1 and writes
 *    the active tables back); flush; then the snapshot table is rewritten (write_snapshots).
 *  - write_snapshots: the whole table goes to newly allocated clusters (v3 extra data of 24
 *    bytes at least: 64-bit VM state size, disk size, icount; unknown extra data kept), flush,
 *    then the header's snapshot count and offset in one synchronous write, then the old table's
 *    clusters are freed (and punched, as QCOW2_DISCARD_SNAPSHOT).
 *  - goto: the snapshot's L1 table must be valid; a different disk size resizes the image first
 *    (the caller's normal resize path); a larger snapshot L1 grows the active table; the
 *    snapshot's clusters gain a reference (its own L1 table's flags are written back), its L1
 *    entries are written over the active table, the old active clusters lose a reference, and a
 *    last pass fixes OFLAG_COPIED in the new active tables.
 *  - delete: the entry leaves the table (write_snapshots) before its clusters lose their
 *    reference and its L1 table is freed; a last pass fixes OFLAG_COPIED in the active tables.
 *
 * Names and ids are compared as bytes (qemu's strcmp), up to the first NUL as qemu reads them.
 * Refcounts go through a write-through Qcow2RefcountWriter whose freed clusters are punched.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.LongConsumer;

/** Internal snapshots of one qcow2 image file, changed as qemu changes them. */
public final class Qcow2SnapshotStore {
    /** Size of the extra data qemu 7.2 writes: vm_state_size_large, disk_size, icount. */
    private static final int EXTRA_DATA = Qcow2SnapshotTable.KNOWN_EXTRA_DATA;
    private static final int HEADER_NB_SNAPSHOTS = 60;
    private static final int HEADER_L1 = 36;

    private final Storage file;
    private final Runnable barrier;
    private final Qcow2Header header;
    private final Qcow2RefcountWriter refcounts;
    private final Qcow2SnapshotRefcounts walk;
    private final List<Snapshot> snapshots = new ArrayList<>();
    private long tableOffset;
    private long tableSize;
    private long l1Offset;
    private long[] l1;

    /** One snapshot as qemu holds it in memory (QCowSnapshot), ids and names as raw bytes. */
    private record Snapshot(long l1Offset, long l1Size, byte[] id, byte[] name, long dateSec, long dateNsec,
                            long vmClockNsec, long vmStateSize, long diskSize, long icount, byte[] unknownExtra) {
    }

    private Qcow2SnapshotStore(Storage file, Runnable barrier) {
        this.file = file;
        this.barrier = barrier;
        this.header = Qcow2Header.parse(file);
        Qcow2CorruptionSignal signal = new Qcow2CorruptionSignal(file.name(), e -> { });
        this.refcounts = new Qcow2RefcountWriter(file, header, signal, barrier);
        int clusterBits = header.clusterBits();
        long clusterSize = header.clusterSize();
        refcounts.onFreed(index -> file.punchHole(index << clusterBits, clusterSize));
        this.walk = new Qcow2SnapshotRefcounts(file, refcounts, signal, header);
        Qcow2SnapshotTable table = Qcow2SnapshotTable.parse(file, header.snapshotsOffset(), header.nbSnapshots());
        this.tableOffset = table.offset();
        this.tableSize = table.size();
        for (Qcow2SnapshotTable.Entry e : table.entries()) {
            int extra = e.extraDataSize();
            ByteBuffer h = HostReads.read(file, e.entryOffset(), Qcow2Header.SNAPSHOT_HEADER_SIZE);
            int idSize = HostReads.u16(h, 12);
            int nameSize = HostReads.u16(h, 14);
            byte[] strings = HostReads.bytes(file, e.entryOffset() + Qcow2Header.SNAPSHOT_HEADER_SIZE + extra,
                    idSize + nameSize);
            byte[] id = cBytes(strings, 0, idSize);
            byte[] name = cBytes(strings, idSize, nameSize);
            byte[] unknown = extra > EXTRA_DATA ? Arrays.copyOfRange(e.extraData(), EXTRA_DATA, extra) : new byte[0];
            snapshots.add(new Snapshot(e.l1TableOffset(), e.l1Size(), id, name, e.dateSec(), e.dateNsec(),
                    e.vmClockNsec(), e.vmStateSize(), e.diskSize() < 0 ? header.virtualSize() : e.diskSize(),
                    extra >= EXTRA_DATA ? e.icount() : -1, unknown));
        }
        this.l1Offset = header.l1TableOffset();
        this.l1 = readL1(l1Offset, header.l1Size());
    }

    /**
     * Reads the snapshots of the qcow2 image in {@code file} (opened read-write; no writer may
     * hold pending changes to it, nor change it while the store is used).
     *
     * @param barrier a flush barrier (a no-op when the cache mode ignores flushes)
     */
    public static Qcow2SnapshotStore open(Storage file, Runnable barrier) {
        return new Qcow2SnapshotStore(file, barrier);
    }

    /**
     * qemu's free_cluster_index after this store's allocations and frees: where the image's next
     * allocation (the persistent bitmaps stored on close) starts its free-cluster search.
     */
    public long freeClusterIndex() {
        return refcounts.freeClusterIndex();
    }

    /** The normal resize path, which goto runs when the snapshot's disk size differs. */
    @FunctionalInterface
    public interface Resize {
        /**
         * Resizes the image to {@code newSize} bytes (shrinking allowed, no preallocation), on
         * its own open of the file; the store reads the metadata again afterwards.
         */
        void to(long newSize);
    }

    /**
     * qcow2_snapshot_create with qemu-img's snapshot info (VM state 0, VM clock 0, icount 0).
     *
     * @throws StrataException EFBIG with 65536 snapshots, ENOTSUP with an external data file,
     *         EINVAL on refcount overflow; qemu-img prints only the errno of these
     */
    public void create(String name, long dateSec, long dateNsec) {
        if (snapshots.size() >= Qcow2Header.MAX_SNAPSHOTS) {
            throw new StrataException(ErrorKind.EFBIG, "File too large");
        }
        if (header.hasDataFile()) {
            throw StrataException.unsupported("Operation not supported");
        }
        byte[] id = newId().getBytes(StandardCharsets.US_ASCII);
        long offset = refcounts.allocate((long) l1.length * 8);
        file.write(l1Bytes(l1), offset);
        walk.update(l1Offset, l1, 1);
        barrier.run();
        snapshots.add(new Snapshot(offset, l1.length, id, qemuName(name), dateSec, dateNsec, 0, 0,
                header.virtualSize(), 0, new byte[0]));
        try {
            writeSnapshots();
        } catch (StrataException e) {
            snapshots.remove(snapshots.size() - 1);
            throw e;
        }
    }

    /**
     * qcow2_snapshot_goto: makes the snapshot found by id, else by name, the active state.
     *
     * @param reports receives the lines qemu prints with error_report before it fails
     * @throws StrataException ENOENT when no snapshot matches, ENOTSUP with an external data
     *         file, EINVAL/EFBIG for an invalid snapshot L1 table (its reason reported first)
     */
    public void apply(String idOrName, Resize resize, Consumer<String> reports) {
        if (header.hasDataFile()) {
            throw StrataException.unsupported("Operation not supported");
        }
        int index = find(idOrName, null);
        if (index < 0) {
            index = find(null, idOrName);
        }
        if (index < 0) {
            throw new StrataException(ErrorKind.ENOENT, "No such file or directory");
        }
        Snapshot sn = snapshots.get(index);
        try {
            validateL1(sn);
        } catch (StrataException e) {
            reports.accept(e.getMessage());
            throw e;
        }
        if (sn.diskSize() != header.virtualSize()) {
            resize.to(sn.diskSize());
            Qcow2SnapshotStore reread = new Qcow2SnapshotStore(file, barrier);
            reread.applyAfterResize(reread.snapshots.get(index));
            return;
        }
        applyAfterResize(sn);
    }

    private void applyAfterResize(Snapshot sn) {
        if (sn.l1Size() > l1.length) {
            growL1((int) sn.l1Size());
        }
        long[] snapshotL1 = readL1(sn.l1Offset(), sn.l1Size());
        long[] newActive = Arrays.copyOf(snapshotL1, l1.length);
        walk.update(sn.l1Offset(), snapshotL1, 1);
        file.write(l1Bytes(newActive), l1Offset);
        barrier.run();
        long[] oldActive = l1;
        walk.update(l1Offset, oldActive, -1);
        barrier.run();
        l1 = newActive;
        walk.update(l1Offset, l1, 0);
        barrier.run();
    }

    /**
     * qemu-img's delete: the first snapshot named {@code name} (bdrv_snapshot_find looks at names
     * only), then qcow2_snapshot_delete of that id and name.
     *
     * @return false when no snapshot has that name (nothing is changed)
     * @throws StrataException with the detail qemu-img appends to "Could not delete snapshot
     *         'NAME': " (an invalid L1 table's reason, "Failed to remove snapshot from snapshot
     *         list: ...", ...)
     */
    public boolean delete(String name) {
        if (header.hasDataFile()) {
            return false; // qcow2_snapshot_list refuses, so qemu-img finds nothing
        }
        int index = find(null, name);
        if (index < 0) {
            return false;
        }
        Snapshot sn = snapshots.get(index);
        validateL1(sn);
        snapshots.remove(index);
        try {
            writeSnapshots();
        } catch (StrataException e) {
            snapshots.add(index, sn);
            throw new StrataException(e.kind(), "Failed to remove snapshot from snapshot list: "
                    + e.getMessage(), e);
        }
        try {
            walk.update(sn.l1Offset(), readL1(sn.l1Offset(), sn.l1Size()), -1);
            barrier.run();
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Failed to free the cluster and L1 table: " + e.getMessage(), e);
        }
        refcounts.free(sn.l1Offset(), sn.l1Size() * 8);
        try {
            walk.update(l1Offset, l1, 0);
            barrier.run();
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Failed to update snapshot status in disk: " + e.getMessage(), e);
        }
        return true;
    }

    /** find_snapshot_by_id_and_name: both given must match; the index or -1. */
    private int find(String id, String name) {
        byte[] idBytes = id == null ? null : id.getBytes(StandardCharsets.UTF_8);
        byte[] nameBytes = name == null ? null : name.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < snapshots.size(); i++) {
            Snapshot s = snapshots.get(i);
            if ((idBytes == null || Arrays.equals(s.id(), idBytes))
                    && (nameBytes == null || Arrays.equals(s.name(), nameBytes))) {
                return i;
            }
        }
        return -1;
    }

    /** find_new_snapshot_id: the largest id read as strtoul, plus one, printed as %lu. */
    private String newId() {
        long max = 0;
        for (Snapshot s : snapshots) {
            long id = strtoul(s.id());
            if (Long.compareUnsigned(id, max) > 0) {
                max = id;
            }
        }
        return Long.toUnsignedString(max + 1);
    }

    /** glibc's strtoul in base 10 (leading blanks, a sign, digits; saturating; negated if '-'). */
    static long strtoul(byte[] s) {
        int p = 0;
        while (p < s.length && (s[p] == ' ' || (s[p] >= '\t' && s[p] <= '\r'))) {
            p++;
        }
        boolean negative = false;
        if (p < s.length && (s[p] == '+' || s[p] == '-')) {
            negative = s[p] == '-';
            p++;
        }
        long value = 0;
        boolean overflow = false;
        for (; p < s.length && s[p] >= '0' && s[p] <= '9'; p++) {
            long next = value * 10 + (s[p] - '0');
            if (Long.compareUnsigned(value, Long.divideUnsigned(-1L, 10)) > 0
                    || Long.compareUnsigned(next, value * 10) < 0) {
                overflow = true;
            }
            value = next;
        }
        if (overflow) {
            return -1L;
        }
        return negative ? -value : value;
    }

    /** qemu-img keeps at most 255 bytes of the name (pstrcpy into a 256-byte buffer). */
    private static byte[] qemuName(String name) {
        byte[] b = name.getBytes(StandardCharsets.UTF_8);
        int nul = 0;
        while (nul < b.length && b[nul] != 0) {
            nul++;
        }
        return Arrays.copyOf(b, Math.min(nul, 255));
    }

    private void validateL1(Snapshot sn) {
        Qcow2Header.validateTable(header.clusterSize(), sn.l1Offset(), sn.l1Size(), 8, Qcow2Header.MAX_L1_BYTES,
                "Snapshot L1 table");
    }

    /**
     * qcow2_write_snapshots: the table to new clusters, then the header, then the old one freed.
     * Each entry is written on its own, as qemu writes its pieces: the padding between entries
     * keeps what the reused clusters held before.
     */
    private void writeSnapshots() {
        long size = 0;
        for (Snapshot s : snapshots) {
            size = (size + 7) & ~7L;
            size += Qcow2Header.SNAPSHOT_HEADER_SIZE + EXTRA_DATA + s.unknownExtra().length + s.id().length
                    + s.name().length;
            if (size > Qcow2SnapshotTable.MAX_TABLE_SIZE) {
                throw new StrataException(ErrorKind.EFBIG, "File too large");
            }
        }
        long offset = refcounts.allocate(size);
        barrier.run();
        long at = 0;
        for (Snapshot s : snapshots) {
            at = (at + 7) & ~7L;
            ByteBuffer entry = Qcow2SnapshotTable.encodeEntry(s.l1Offset(), s.l1Size(), s.id(), s.name(), s.dateSec(),
                    s.dateNsec(), s.vmClockNsec(), s.vmStateSize(), s.diskSize(), s.icount(), s.unknownExtra());
            int length = entry.capacity();
            file.write(entry, offset + at);
            at += length;
        }
        barrier.run();
        ByteBuffer pointer = ByteBuffer.allocate(12);
        pointer.putInt(0, snapshots.size());
        pointer.putLong(4, offset);
        file.write(pointer, HEADER_NB_SNAPSHOTS);
        barrier.run();
        refcounts.free(tableOffset, tableSize);
        tableOffset = offset;
        tableSize = size;
    }

    /**
     * qcow2_grow_l1_table with an exact size: a new table in new clusters, the header switched
     * to it, the old table freed (QCOW2_DISCARD_OTHER: not punched).
     */
    private void growL1(int size) {
        long[] grown = Arrays.copyOf(l1, size);
        long offset = refcounts.allocate((long) size * 8);
        barrier.run();
        file.write(l1Bytes(grown), offset);
        barrier.run();
        ByteBuffer pointer = ByteBuffer.allocate(12);
        pointer.putInt(0, size);
        pointer.putLong(4, offset);
        file.write(pointer, HEADER_L1);
        barrier.run();
        LongConsumer none = index -> { };
        refcounts.onFreed(none);
        refcounts.free(l1Offset, (long) l1.length * 8);
        int clusterBits = header.clusterBits();
        long clusterSize = header.clusterSize();
        refcounts.onFreed(index -> file.punchHole(index << clusterBits, clusterSize));
        l1Offset = offset;
        l1 = grown;
    }

    private long[] readL1(long offset, long size) {
        return Arrays.copyOf(Qcow2L1Table.parse(file, offset, size).stored(), (int) size);
    }

    private static ByteBuffer l1Bytes(long[] table) {
        ByteBuffer b = ByteBuffer.allocate(table.length * 8);
        b.asLongBuffer().put(table);
        return b;
    }

    private static byte[] cBytes(byte[] data, int from, int length) {
        int end = from;
        while (end < from + length && data[end] != 0) {
            end++;
        }
        return Arrays.copyOfRange(data, from, end);
    }
}
