package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu 7.2's qcow2_update_snapshot_refcount, the one walk behind snapshot create,
 * apply and delete. For every L2 table an L1 table points to:
 *
 *  - each entry's cluster gains or loses one reference (addend +1/-1; 0 only re-reads):
 *    compressed clusters over every host cluster their bytes touch (their refcount then counts
 *    as 2: they are never rewritten in place), normal and preallocated-zero clusters on their
 *    host cluster; unallocated and plain zero entries have none;
 *  - OFLAG_COPIED is set exactly where the cluster's refcount is now 1 (entries that change are
 *    written back with the table);
 *  - then the table's own cluster gains or loses its reference and the L1 entry gets
 *    OFLAG_COPIED the same way.
 *
 * A table whose refcount drops to zero is not written back: qemu's cache drops a freed table,
 * and the freed cluster is punched (QCOW2_DISCARD_SNAPSHOT passes discards through), which the
 * refcount writer's free listener does. The L1 table is written back when an entry changed,
 * except for a decrement (that table is being dropped). Tables are read and written whole:
 * qemu works in slices, but the bytes that change are the same.
 *
 * Metadata that qemu treats as fatal corruption here (an unaligned L2 table or cluster offset)
 * fails the walk with qemu's reason through the corruption signal; nothing more is written then
 * (qemu stops using the image). A refcount that would overflow (or drop below zero) fails the walk
 * with EINVAL after the entries changed so far have been written back, as qemu's L2 cache does.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/** Adds a reference to (or drops one from) everything an L1 table reaches, fixing OFLAG_COPIED. */
final class Qcow2SnapshotRefcounts {
    private final Storage file;
    private final Qcow2RefcountWriter refcounts;
    private final Qcow2CorruptionSignal signal;
    private final int clusterBits;
    private final long clusterSize;
    private final boolean extendedL2;
    private final int entrySize;

    Qcow2SnapshotRefcounts(Storage file, Qcow2RefcountWriter refcounts, Qcow2CorruptionSignal signal,
                           Qcow2Header header) {
        this.file = file;
        this.refcounts = refcounts;
        this.signal = signal;
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.extendedL2 = header.extendedL2();
        this.entrySize = header.l2EntrySize();
    }

    /**
     * Walks {@code l1} (the table stored at {@code l1Offset}; its entries are updated in place)
     * with {@code addend} -1, 0 or +1, and writes the L1 table back when an entry changed and
     * {@code addend >= 0}.
     *
     * @throws dev.strata.engine.StrataException EIO for unaligned metadata (after signalling it),
     *         EINVAL when a refcount would overflow (earlier changes stay, as in qemu)
     */
    void update(long l1Offset, long[] l1, int addend) {
        boolean l1Modified = false;
        for (int i = 0; i < l1.length; i++) {
            long old = l1[i];
            long l2Offset = old & Qcow2L2Entry.L1_OFFSET_MASK;
            if (l2Offset == 0) {
                continue;
            }
            if ((l2Offset & (clusterSize - 1)) != 0) {
                throw signal.fatal("L2 table offset 0x" + Long.toHexString(l2Offset) + " unaligned (L1 index: 0x"
                        + Integer.toHexString(i) + ")");
            }
            ByteBuffer table = HostReads.read(file, l2Offset, (int) clusterSize);
            boolean dirty = updateTable(table, l2Offset, addend);
            long index = l2Offset >>> clusterBits;
            if (addend != 0) {
                addRefcount(l2Offset, clusterSize, addend, table, dirty, l2Offset);
            }
            long refcount = refcounts.get(index);
            if (dirty && refcount > 0) {
                file.write(table.clear(), l2Offset);
            }
            long updated = refcount == 1 ? l2Offset | Qcow2L2Entry.OFLAG_COPIED : l2Offset;
            if (updated != old) {
                l1[i] = updated;
                l1Modified = true;
            }
        }
        if (addend >= 0 && l1Modified) {
            ByteBuffer out = ByteBuffer.allocate(l1.length * 8);
            out.asLongBuffer().put(l1);
            file.write(out, l1Offset);
        }
    }

    /** The entries of one L2 table; true when one of them changed. */
    private boolean updateTable(ByteBuffer table, long l2Offset, int addend) {
        boolean dirty = false;
        int entries = (int) (clusterSize / entrySize);
        for (int j = 0; j < entries; j++) {
            long old = table.getLong(j * entrySize);
            long entry = old & ~Qcow2L2Entry.OFLAG_COPIED;
            Qcow2L2Entry e = new Qcow2L2Entry(entry, 0);
            long refcount;
            switch (e.clusterType(extendedL2, false)) {
                case COMPRESSED -> {
                    if (addend != 0) {
                        addRefcount(e.compressedHostOffset(clusterBits), e.compressedSize(clusterBits), addend,
                                table, dirty, l2Offset);
                    }
                    refcount = 2;
                }
                case NORMAL, ZERO_ALLOC -> {
                    long offset = entry & Qcow2L2Entry.OFFSET_MASK;
                    if ((offset & (clusterSize - 1)) != 0) {
                        throw signal.fatal("Cluster allocation offset 0x" + Long.toHexString(offset)
                                + " unaligned (L2 offset: 0x" + Long.toHexString(l2Offset) + ", L2 index: 0x"
                                + Integer.toHexString(j) + ")");
                    }
                    if (addend != 0) {
                        addRefcount(offset, clusterSize, addend, table, dirty, l2Offset);
                    }
                    refcount = refcounts.get(offset >>> clusterBits);
                }
                default -> refcount = 0;
            }
            if (refcount == 1) {
                entry |= Qcow2L2Entry.OFLAG_COPIED;
            }
            if (entry != old) {
                table.putLong(j * entrySize, entry);
                dirty = true;
            }
        }
        return dirty;
    }

    /**
     * Adds {@code addend} to the refcount of every cluster {@code [offset, offset+bytes)} touches
     * (qemu's update_refcount: all or none of them). When that fails (a refcount would overflow
     * or drop below zero), the entries of {@code table} changed so far are written back first:
     * qemu changes them in its L2 cache as it goes, and that cache still reaches the disk after
     * the walk fails, so the entries whose refcount already changed carry the right OFLAG_COPIED.
     */
    private void addRefcount(long offset, long bytes, int addend, ByteBuffer table, boolean dirty, long l2Offset) {
        try {
            refcounts.addToRange(offset, bytes, addend);
        } catch (StrataException e) {
            if (dirty) {
                file.write(table.clear(), l2Offset);
            }
            throw e;
        }
    }
}
