package dev.strata.engine.format.qcow2.check;

/*
 * Design note: recounts every reference to a host cluster, the way qemu's calculate_refcounts
 * does, in the same order (so that diagnostics come out in qemu's order): the header cluster,
 * the active L1 table with its L2 tables and data clusters, each snapshot's L1/L2 tables and
 * data, the snapshot table, the refcount table, the LUKS header, the bitmap directory with its
 * bitmap tables and bitmap data, and finally the refcount blocks. While walking L1 and L2 tables
 * it runs qemu's per-entry checks and prints their messages verbatim; for the active L1 table
 * it also gathers the allocation statistics (allocated, fragmented, compressed clusters).
 *
 * With -r all (a CountingRepairs given) it also repairs what qemu's calculate_refcounts repairs
 * with BDRV_FIX_ERRORS: an unaligned preallocated (zero, no data) L2 entry becomes a plain zero
 * cluster (fix_l2_entry_by_zero), and a refcount block pointer past the end of the file grows the
 * file to cover it (check_refblocks). Damage that needs a new refcount structure (reserved bits,
 * unaligned or doubly used refcount blocks, a failed resize) sets needsRebuild().
 *
 * Reads are bounded: an L2 table is one cluster; a table that lies wholly past the end of the
 * file reads as zeros (nothing allocated), so it is not read at all; L1 tables are read only up
 * to the end of the file; bitmap tables are streamed.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2BitmapDirectory;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2HeaderExtension;
import dev.strata.engine.format.qcow2.Qcow2L1Table;
import dev.strata.engine.format.qcow2.Qcow2L2Entry;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;
import dev.strata.engine.format.qcow2.Qcow2SubclusterType;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/** Builds the {@link ComputedRefcounts} of an image and reports what it finds on the way. */
final class ReferenceCounter {
    /**
     * The writes -r all makes while counting. A dry run implements them without I/O, so the
     * repair can see beforehand what qemu would do.
     */
    interface CountingRepairs {
        /**
         * Overwrites one L2 entry (8 or 16 bytes) at {@code offset} in an active or inactive L2
         * table.
         *
         * @return false when qemu's overlap check refuses the write (nothing written)
         */
        boolean writeL2Entry(long offset, byte[] entry, boolean active);

        /** Grows the file to {@code length} bytes (qemu's bdrv_truncate in check_refblocks). */
        void growFile(long length);
    }

    /** qemu refuses to grow the file past INT64_MAX - cluster_size (EINVAL). */
    private static final long MAX_FILE = Long.MAX_VALUE;

    /** qemu's QCOW_MAX_L1_SIZE in entries. */
    static final long MAX_L1_ENTRIES = Qcow2Header.MAX_L1_BYTES / 8;

    private final Storage file;
    private final Qcow2Header header;
    private long fileLength;
    private final int clusterBits;
    private final long clusterSize;
    private final boolean extendedL2;
    private final boolean dataFile;
    private final CheckListener out;
    private final CheckTally tally;
    private final ComputedRefcounts refs;
    /** One L2 table (one cluster), reused for every table. */
    private final ByteBuffer l2Table;
    private CountingRepairs repairs;
    private long corruptionsFixed;
    private boolean rebuild;

    ReferenceCounter(Storage file, Qcow2Header header, long fileLength, ComputedRefcounts refs, CheckTally tally,
                     CheckListener out) {
        this.file = file;
        this.header = header;
        this.fileLength = fileLength;
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.extendedL2 = header.extendedL2();
        this.dataFile = header.hasDataFile();
        this.refs = refs;
        this.tally = tally;
        this.out = out;
        this.l2Table = ByteBuffer.allocate(header.clusterSize());
    }

    /**
     * Makes this counter repair while counting as qemu's -r all does (BDRV_FIX_ERRORS).
     *
     * @return this counter
     */
    ReferenceCounter repairingWith(CountingRepairs writes) {
        this.repairs = writes;
        return this;
    }

    /** How many corruptions were repaired while counting (qemu's corruptions_fixed). */
    long corruptionsFixed() {
        return corruptionsFixed;
    }

    /** Whether counting found refcount blocks that need a new refcount structure. */
    boolean needsRebuild() {
        return rebuild;
    }

    /** The file length as the counter last saw it (grown by a repair). */
    long fileLength() {
        return fileLength;
    }

    /**
     * qemu's calculate_refcounts.
     *
     * @param snapshots the snapshot table as read by the check
     * @param reftable  the stored refcount table
     */
    void countAll(Qcow2SnapshotTable snapshots, StoredRefcounts reftable) throws CheckAbort {
        count(0, clusterSize);
        countL1(header.l1TableOffset(), header.l1Size(), true);

        if (dataFile && !snapshots.entries().isEmpty()) {
            out.line("ERROR " + snapshots.entries().size() + " snapshots in image with data file");
            tally.corruptions++;
        }
        for (Qcow2SnapshotTable.Entry sn : snapshots.entries()) {
            if ((sn.l1TableOffset() & (clusterSize - 1)) != 0) {
                out.line("ERROR snapshot " + sn.id() + " (" + sn.name() + ") l1_offset="
                        + Hex.alt(sn.l1TableOffset())
                        + ": L1 table is not cluster aligned; snapshot table entry corrupted");
                tally.corruptions++;
                continue;
            }
            if (sn.l1Size() > MAX_L1_ENTRIES) {
                out.line("ERROR snapshot " + sn.id() + " (" + sn.name() + ") l1_size=" + Hex.alt(sn.l1Size())
                        + ": L1 table is too large; snapshot table entry corrupted");
                tally.corruptions++;
                continue;
            }
            countL1(sn.l1TableOffset(), sn.l1Size(), false);
        }
        count(snapshots.offset(), snapshots.size());

        count(header.refcountTableOffset(), (long) reftable.tableEntries() * 8);

        var crypto = header.cryptoHeader();
        if (crypto != null && crypto.length() != 0) {
            count(crypto.offset(), crypto.length());
        }

        countBitmaps();
        countRefcountBlocks(reftable);
    }

    /**
     * qemu's qcow2_inc_refcounts_imrt: one more reference to every cluster of
     * [offset, offset + size), refused when the range ends a cluster or more past EOF.
     */
    void count(long offset, long size) throws CheckAbort {
        if (size <= 0) {
            return;
        }
        if (offset + size - fileLength >= clusterSize) {
            out.line("ERROR: counting reference for region exceeding the end of the file by one cluster or more: "
                    + "offset 0x" + Long.toHexString(offset) + " size 0x" + Long.toHexString(size));
            tally.corruptions++;
            return;
        }
        long start = offset & -clusterSize;
        long last = (offset + size - 1) & -clusterSize;
        for (long c = start; Long.compareUnsigned(c, last) <= 0; c += clusterSize) {
            long k = c >>> clusterBits;
            if (k >= refs.size()) {
                if (k > refs.size() + 1) {
                    // Only a wrapped (negative) offset gets here; qemu fails to allocate the array.
                    tally.checkErrors++;
                    throw CheckAbort.outOfMemory();
                }
                refs.ensure(k);
            }
            if (!refs.increment(k)) {
                out.line("ERROR: overflow cluster offset=0x" + Long.toHexString(c));
                out.line("Use qemu-img amend to increase the refcount entry width or qemu-img convert to create"
                        + " a clean copy if the image cannot be opened for writing");
                tally.corruptions++;
            }
            if (c == last) {
                break;
            }
        }
    }

    /** qemu's check_refcounts_l1. */
    private void countL1(long l1Offset, long l1Size, boolean active) throws CheckAbort {
        if (l1Size == 0) {
            return;
        }
        count(l1Offset, l1Size * 8);
        if (!HostLimits.readable(l1Offset, l1Size * 8)) {
            out.line("ERROR: I/O error in check_refcounts_l1");
            tally.checkErrors++;
            throw CheckAbort.io();
        }
        Qcow2L1Table l1 = Qcow2L1Table.parse(file, l1Offset, l1Size);
        long[] entries = l1.stored();
        for (long entry : entries) {
            if (entry == 0) {
                continue;
            }
            if ((entry & Qcow2L2Entry.L1_RESERVED_MASK) != 0) {
                out.line("ERROR found L1 entry with reserved bits set: " + Long.toHexString(entry));
                tally.corruptions++;
            }
            long l2Offset = entry & Qcow2L2Entry.L1_OFFSET_MASK;
            count(l2Offset, clusterSize);
            if ((l2Offset & (clusterSize - 1)) != 0) {
                out.line("ERROR l2_offset=" + Long.toHexString(l2Offset)
                        + ": Table is not cluster aligned; L1 entry corrupted");
                tally.corruptions++;
            }
            countL2(l2Offset, active);
        }
    }

    /** qemu's check_refcounts_l2; statistics only for the active L1 table. */
    /** qemu's fix_l2_entry_by_zero: the entry (and its present subclusters) read as zeros. */
    private boolean zeroEntry(long l2Offset, int index, long bitmap, boolean active) {
        int size = extendedL2 ? 16 : 8;
        ByteBuffer entry = ByteBuffer.allocate(size);
        if (extendedL2) {
            entry.putLong(0, 0).putLong(8, (bitmap | (bitmap << 32)) & Qcow2L2Entry.ALL_ZERO);
        } else {
            entry.putLong(0, Qcow2L2Entry.OFLAG_ZERO);
        }
        return repairs.writeL2Entry(l2Offset + (long) index * size, entry.array(), active);
    }

    private void countL2(long l2Offset, boolean active) throws CheckAbort {
        if (l2Offset >= fileLength) {
            return; // reads as zeros: every entry unallocated, nothing to count or report
        }
        ByteBuffer table = l2Table.clear();
        file.read(table, l2Offset);
        int entries = header.l2Entries();
        long nextContiguous = 0;
        for (int i = 0; i < entries; i++) {
            Qcow2L2Entry e = Qcow2L2Entry.at(table, i, extendedL2);
            long entry = e.entry();
            long bitmap = e.bitmap();
            Qcow2SubclusterType type = e.clusterType(extendedL2, dataFile);
            if (type != Qcow2SubclusterType.COMPRESSED && (entry & Qcow2L2Entry.STD_RESERVED_MASK) != 0) {
                out.line("ERROR found l2 entry with reserved bits set: " + Long.toHexString(entry));
                tally.corruptions++;
            }
            switch (type) {
                case COMPRESSED:
                    countCompressed(e, i, active);
                    break;
                case ZERO_ALLOC:
                case NORMAL: {
                    long offset = entry & Qcow2L2Entry.OFFSET_MASK;
                    if (((bitmap >>> 32) & bitmap) != 0) {
                        tally.corruptions++;
                        out.line("ERROR offset=" + Long.toHexString(offset)
                                + ": Allocated cluster has corrupted subcluster allocation bitmap");
                    }
                    if ((offset & (clusterSize - 1)) != 0) {
                        tally.corruptions++;
                        boolean containsData = extendedL2 ? (bitmap & Qcow2L2Entry.ALL_ALLOC) != 0
                                : (entry & Qcow2L2Entry.OFLAG_ZERO) == 0;
                        if (!containsData) {
                            out.line((repairs != null ? "Repairing" : "ERROR") + " offset=" + Long.toHexString(offset)
                                    + ": Preallocated cluster is not properly aligned; L2 entry corrupted.");
                            if (repairs != null) {
                                if (!zeroEntry(l2Offset, i, bitmap, active)) {
                                    out.line("ERROR: Overlap check failed");
                                    tally.checkErrors++;
                                    throw CheckAbort.io();
                                }
                                tally.corruptions--;
                                corruptionsFixed++;
                                continue; // the cluster is unused now
                            }
                        } else {
                            out.line("ERROR offset=" + Long.toHexString(offset)
                                    + ": Data cluster is not properly aligned; L2 entry corrupted.");
                        }
                    }
                    if (active) {
                        tally.allocatedClusters++;
                        if (nextContiguous != 0 && offset != nextContiguous) {
                            tally.fragmentedClusters++;
                        }
                        nextContiguous = offset + clusterSize;
                    }
                    if (!dataFile) {
                        count(offset, clusterSize);
                    }
                    break;
                }
                case ZERO_PLAIN:
                    break;
                case UNALLOCATED_PLAIN:
                    if ((bitmap & Qcow2L2Entry.ALL_ALLOC) != 0) {
                        tally.corruptions++;
                        out.line("ERROR: Unallocated cluster has non-zero subcluster allocation map");
                    }
                    break;
                default:
                    throw new IllegalStateException("cluster type " + type);
            }
        }
    }

    private void countCompressed(Qcow2L2Entry e, int index, boolean active) throws CheckAbort {
        long entry = e.entry();
        if (e.isCopied()) {
            out.line("ERROR: coffset=0x" + Long.toHexString(e.compressedHostOffset(clusterBits))
                    + ": copied flag must never be set for compressed clusters");
            entry &= ~Qcow2L2Entry.OFLAG_COPIED;
            tally.corruptions++;
        }
        if (dataFile) {
            out.line("ERROR compressed cluster " + index + " with data file, entry=0x" + Long.toHexString(entry));
            tally.corruptions++;
            return;
        }
        if (e.bitmap() != 0) {
            out.line("ERROR compressed cluster " + index + " with non-zero subcluster allocation bitmap, entry=0x"
                    + Long.toHexString(entry));
            tally.corruptions++;
            return;
        }
        count(e.compressedHostOffset(clusterBits), e.compressedSize(clusterBits));
        if (active) {
            tally.allocatedClusters++;
            tally.compressedClusters++;
            tally.fragmentedClusters++;
        }
    }

    /** qemu's qcow2_check_bitmaps_refcounts. */
    private void countBitmaps() throws CheckAbort {
        Qcow2HeaderExtension.BitmapsExtension ext = header.bitmapsExtension();
        if (ext == null || !header.bitmapsConsistent() || ext.nbBitmaps() == 0) {
            return;
        }
        count(ext.directoryOffset(), ext.directorySize());
        Qcow2BitmapDirectory bitmaps;
        try {
            bitmaps = Qcow2BitmapDirectory.parse(file, header);
        } catch (StrataException e) {
            // Unreachable in practice: opening the image loads the same directory and fails first.
            tally.corruptions++;
            throw CheckAbort.invalid();
        }
        for (Qcow2BitmapDirectory.Entry bm : bitmaps.entries()) {
            count(bm.tableOffset(), bm.tableSize() * 8);
            // qemu loads (and validates) the whole table before counting its data clusters.
            if (!HostLimits.readable(bm.tableOffset(), bm.tableSize() * 8)) {
                tally.corruptions++;
                throw CheckAbort.io();
            }
            if (!scanBitmapTable(bm, false)) {
                tally.corruptions++;
                throw CheckAbort.invalid();
            }
            scanBitmapTable(bm, true);
        }
    }

    /**
     * Streams the part of a bitmap table that lies inside the file (entries past EOF read as
     * zeros, which are valid and reference nothing): validates every entry, or counts the data
     * cluster of every entry.
     *
     * @return whether every entry is valid (always true when counting)
     */
    private boolean scanBitmapTable(Qcow2BitmapDirectory.Entry bm, boolean countData) throws CheckAbort {
        final int chunkEntries = 8192;
        long inFile = Math.max(0, Math.min(bm.tableSize(), (fileLength - bm.tableOffset() + 7) / 8));
        ByteBuffer chunk = ByteBuffer.allocate(chunkEntries * 8);
        for (long done = 0; done < inFile; done += chunkEntries) {
            int n = (int) Math.min(chunkEntries, inFile - done);
            chunk.clear().limit(n * 8);
            file.read(chunk, bm.tableOffset() + done * 8);
            for (int i = 0; i < n; i++) {
                long entry = chunk.getLong(i * 8);
                if (!countData) {
                    if (!Qcow2BitmapDirectory.tableEntryValid(entry, (int) clusterSize)) {
                        return false;
                    }
                    continue;
                }
                long offset = entry & Qcow2BitmapDirectory.TABLE_ENTRY_OFFSET_MASK;
                if (offset != 0) {
                    count(offset, clusterSize);
                }
            }
        }
        return true;
    }

    /** qemu's check_refblocks (without repair). */
    private void countRefcountBlocks(StoredRefcounts reftable) throws CheckAbort {
        for (int i = 0; i < reftable.tableEntries(); i++) {
            long raw = reftable.tableEntry(i);
            long offset = raw & StoredRefcounts.REFT_OFFSET_MASK;
            long cluster = offset >>> clusterBits;
            if ((raw & StoredRefcounts.REFT_RESERVED_MASK) != 0) {
                out.line("ERROR refcount table entry " + i + " has reserved bits set");
                tally.corruptions++;
                rebuild = true;
                continue;
            }
            if ((offset & (clusterSize - 1)) != 0) {
                out.line("ERROR refcount block " + i + " is not cluster aligned; refcount table entry corrupted");
                tally.corruptions++;
                rebuild = true;
                continue;
            }
            if (Long.compareUnsigned(cluster, refs.size()) >= 0) {
                tally.corruptions++;
                out.line((repairs != null ? "Repairing" : "ERROR") + " refcount block " + i + " is outside image");
                if (repairs != null) {
                    if (offset < 0 || offset > MAX_FILE - clusterSize) {
                        rebuild = true;
                        out.line("ERROR could not resize image: Invalid argument");
                        continue;
                    }
                    repairs.growFile(offset + clusterSize);
                    fileLength = offset + clusterSize;
                    refs.resize((fileLength + clusterSize - 1) >>> clusterBits);
                    tally.corruptions--;
                    corruptionsFixed++;
                    count(offset, clusterSize); // just allocated and zeroed: its count is 1
                }
                continue;
            }
            if (offset != 0) {
                count(offset, clusterSize);
                long n = refs.get(cluster);
                if (n != 1) {
                    out.line("ERROR refcount block " + i + " refcount=" + Long.toUnsignedString(n));
                    tally.corruptions++;
                    rebuild = true;
                }
            }
        }
    }
}
