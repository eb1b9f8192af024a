package dev.strata.engine.format.qcow2;

/*
 * Design note: the on-disk half of qemu 7.2's block/qcow2-bitmap.c, over one image file with no
 * writer holding pending metadata (the caller flushed it). One instance is one piece of qemu's
 * open-image state: it keeps one write-through Qcow2RefcountWriter per metadata action, whose
 * free-cluster search starts where the image's other allocations of the session stopped (the
 * writer's, or a snapshot operation's) and continues from action to action, as qemu's one
 * s->free_cluster_index per open image does. What it does, each as qemu does it:
 *
 *  - loadBits: load_bitmap_data (table entries 0: clean; 1: all ones; else a data cluster holding
 *    the serialised bits of cluster_size * 8 chunks, little-endian 64-bit words);
 *  - markInUse: update_ext_header_and_dir_in_place (autoclear bit off, header; directory
 *    rewritten in place; header; autoclear bit on, header);
 *  - storeBitmap: store_bitmap_data + store_bitmap (a data cluster per non-clean cluster of the
 *    serialisation, in guest order, then the table);
 *  - writeDirectory: update_ext_header_and_dir (a new directory, the header switched to it, the
 *    old directory freed; no bitmaps: extension and autoclear bit dropped);
 *  - freeBitmap: free_bitmap_clusters (data clusters freed as QCOW2_DISCARD_ALWAYS, which punches
 *    them; the table as QCOW2_DISCARD_OTHER, which leaves its bytes).
 *
 * The header is always rewritten whole, as qcow2_update_header does (Qcow2HeaderRewrite).
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.CorruptionListener;
import dev.strata.engine.image.DirtyBitmap;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/** Reads and writes persistent bitmaps of one qcow2 image file. Not thread-safe. */
final class Qcow2BitmapStore {
    private static final int CHUNK_ENTRIES = 8192;

    private final Storage file;
    private final int clusterSize;
    private final int clusterBits;
    private final Runnable headerRewritten;
    private Qcow2RefcountWriter refcounts;
    private final List<Long> punched = new ArrayList<>();
    /**
     * Where the image's other allocations left the free-cluster search (read, then handed back);
     * null until shared (start at 0, hand back to nobody). Null rather than no-op lambdas: this
     * is built at every qcow2 open, and each lambda's first use links a call site at start-up.
     */
    private LongSupplier freeSearchStart;
    private LongConsumer freeSearchEnd;

    /** One directory entry as qemu's Qcow2Bitmap holds it (mutable while a list is rebuilt). */
    static final class DirEntry {
        final String name;
        long tableOffset;
        long tableSize;
        int flags;
        int granularityBits;

        DirEntry(String name, long tableOffset, long tableSize, int flags, int granularityBits) {
            this.name = name;
            this.tableOffset = tableOffset;
            this.tableSize = tableSize;
            this.flags = flags;
            this.granularityBits = granularityBits;
        }

        static DirEntry of(Qcow2BitmapDirectory.Entry e) {
            return new DirEntry(e.name(), e.tableOffset(), e.tableSize(), e.flags(), e.granularityBits());
        }
    }

    /**
     * @param headerRewritten run after each header rewrite (so an open writer re-reads it)
     */
    Qcow2BitmapStore(Storage file, int clusterBits, Runnable headerRewritten) {
        this.file = file;
        this.clusterBits = clusterBits;
        this.clusterSize = 1 << clusterBits;
        this.headerRewritten = headerRewritten;
    }

    /** Forgets cached refcounts (another writer changed them meanwhile). */
    void refcountsChanged() {
        refcounts = null;
    }

    /**
     * The image's other allocations (its writer, a snapshot operation) run through a refcount
     * writer whose free-cluster index {@code start} reports: each metadata action starts its
     * search there and {@link #actionDone} hands the index it stopped at to {@code end}.
     */
    void shareFreeClusterSearch(LongSupplier start, LongConsumer end) {
        this.freeSearchStart = start;
        this.freeSearchEnd = end;
    }

    /** Where the next metadata action would start its free-cluster search. */
    long freeClusterIndex() {
        return freeSearchStart == null ? 0 : freeSearchStart.getAsLong();
    }

    /** The image's allocations continue their free-cluster search at {@code index}. */
    void continueFreeClusterSearchAt(long index) {
        if (freeSearchEnd != null) {
            freeSearchEnd.accept(index);
        }
    }

    /** A metadata action is over: the image's other allocations continue where it stopped. */
    void actionDone() {
        if (refcounts != null) {
            if (freeSearchEnd != null) {
                freeSearchEnd.accept(refcounts.freeClusterIndex());
            }
        }
    }

    private Qcow2RefcountWriter refcounts() {
        if (refcounts == null) {
            Qcow2Header h = Qcow2Header.parse(file);
            refcounts = new Qcow2RefcountWriter(file, h,
                    new Qcow2CorruptionSignal(file.name(), CorruptionListener.IGNORE), Qcow2RefcountWriter.NO_BARRIER);
            refcounts.searchFreeFrom(freeClusterIndex());
            refcounts.onFreed(new LongConsumer() {
                @Override
                public void accept(long cluster) {
                    punched.add(cluster);
                }
            });
        }
        return refcounts;
    }

    /** Guest bytes covered by one data cluster of a bitmap with {@code granularityBits}. */
    long coverage(int granularityBits) {
        return ((long) clusterSize * 8) << granularityBits;
    }

    /** qemu's size_to_clusters(serialization_size(0, size)): entries the table of such a bitmap has. */
    long tableSize(long virtualSize, int granularityBits) {
        return Qcow2BitmapDirectory.neededTableSize(granularityBits, clusterSize, virtualSize);
    }

    /**
     * load_bitmap_data: the bits of a consistent bitmap (its table was checked at open).
     *
     * @throws StrataException EINVAL "Could not read bitmap 'NAME' from image: Invalid argument"
     *                         when the table has the wrong size for {@code virtualSize}
     */
    DirtyBitmap loadBits(DirEntry e, long virtualSize) {
        DirtyBitmap bitmap = new DirtyBitmap(virtualSize, 1L << e.granularityBits);
        if (e.tableSize != tableSize(virtualSize, e.granularityBits)) {
            throw StrataException.invalid("Could not read bitmap '" + e.name + "' from image: Invalid argument");
        }
        long bitsPerCluster = (long) clusterSize * 8;
        for (long done = 0; done < e.tableSize; done += CHUNK_ENTRIES) {
            int n = (int) Math.min(CHUNK_ENTRIES, e.tableSize - done);
            ByteBuffer chunk = HostReads.read(file, e.tableOffset + done * 8, n * 8);
            for (int i = 0; i < n; i++) {
                long entry = chunk.getLong(i * 8);
                long firstBit = (done + i) * bitsPerCluster;
                long count = Math.min(bitmap.bitCount() - firstBit, bitsPerCluster);
                long dataOffset = entry & Qcow2BitmapDirectory.TABLE_ENTRY_OFFSET_MASK;
                if (dataOffset != 0) {
                    byte[] data = HostReads.bytes(file, dataOffset, clusterSize);
                    bitmap.deserialize(firstBit, count, data, 0);
                } else if ((entry & Qcow2BitmapDirectory.TABLE_ENTRY_ALL_ONES) != 0) {
                    bitmap.fillBits(firstBit, count, true);
                }
            }
        }
        return bitmap;
    }

    /**
     * update_ext_header_and_dir_in_place: rewrites {@code list} (same names and sizes as on disk)
     * over the current directory, with the bitmaps autoclear bit off meanwhile.
     */
    void rewriteDirectoryInPlace(List<DirEntry> list, long virtualSize) {
        Qcow2HeaderRewrite h = Qcow2HeaderRewrite.load(file);
        Qcow2HeaderExtension.BitmapsExtension ext = h.bitmaps;
        h.autoclear &= ~Qcow2FeatureBits.AUTOCLEAR_BITMAPS;
        writeHeader(h);
        byte[] dir = directoryBytes(list, virtualSize);
        file.write(ByteBuffer.wrap(dir), ext.directoryOffset());
        writeHeader(h);
        h.autoclear |= Qcow2FeatureBits.AUTOCLEAR_BITMAPS;
        writeHeader(h);
    }

    /**
     * store_bitmap: writes the data clusters and the table of {@code bits} and points {@code e}
     * at the new table.
     */
    void storeBitmap(DirEntry e, DirtyBitmap bits) {
        long tbSize = tableSize(bits.size(), bits.granularityBits());
        if (tbSize > Qcow2BitmapDirectory.MAX_TABLE_SIZE || tbSize * clusterSize > Qcow2BitmapDirectory.MAX_PHYS_SIZE) {
            throw StrataException.invalid("Bitmap '" + e.name + "' is too big");
        }
        long[] table = new long[(int) tbSize];
        long limit = coverage(bits.granularityBits());
        long bitsPerCluster = (long) clusterSize * 8;
        byte[] buf = new byte[clusterSize];
        long offset = bits.nextDirty(0);
        while (offset >= 0) {
            long cluster = offset / limit;
            long start = cluster * limit;
            long end = Math.min(bits.size(), start + limit);
            long firstBit = cluster * bitsPerCluster;
            long count = ((end - 1) >>> bits.granularityBits()) + 1 - firstBit;
            long host = refcounts().allocate(clusterSize);
            table[(int) cluster] = host;
            java.util.Arrays.fill(buf, (byte) 0);
            bits.serialize(firstBit, count, buf, 0);
            file.write(ByteBuffer.wrap(buf), host);
            offset = end >= bits.size() ? -1 : bits.nextDirty(end);
        }
        long tableOffset = refcounts().allocate(tbSize * 8);
        ByteBuffer tb = ByteBuffer.allocate((int) tbSize * 8);
        tb.asLongBuffer().put(table);
        file.write(tb, tableOffset);
        e.tableOffset = tableOffset;
        e.tableSize = tbSize;
        e.granularityBits = bits.granularityBits();
    }

    /**
     * update_ext_header_and_dir: a new directory for {@code list} (none when empty), the header
     * switched to it, the {@code old} directory (as the open image knows it) freed.
     *
     * @return the new directory, or null when there is none
     */
    Qcow2HeaderExtension.BitmapsExtension writeDirectory(List<DirEntry> list, long virtualSize,
                                                         Qcow2HeaderExtension.BitmapsExtension old) {
        Qcow2HeaderRewrite h = Qcow2HeaderRewrite.load(file);
        if (!list.isEmpty()) {
            byte[] dir = directoryBytes(list, virtualSize);
            long dirOffset = refcounts().allocate(dir.length);
            file.write(ByteBuffer.wrap(dir), dirOffset);
            h.autoclear |= Qcow2FeatureBits.AUTOCLEAR_BITMAPS;
            h.bitmaps = new Qcow2HeaderExtension.BitmapsExtension(list.size(), 0, dir.length, dirOffset);
        } else {
            h.autoclear &= ~Qcow2FeatureBits.AUTOCLEAR_BITMAPS;
            h.bitmaps = null;
        }
        writeHeader(h);
        if (old != null && old.directorySize() > 0) {
            refcounts().free(old.directoryOffset(), old.directorySize());
            punched.clear();
        }
        return h.bitmaps;
    }

    /** free_bitmap_clusters: frees the data clusters (punched) and the table of a dropped bitmap. */
    void freeBitmap(long tableOffset, long tableSize) {
        if (tableOffset == 0 || tableSize == 0) {
            return;
        }
        for (long done = 0; done < tableSize; done += CHUNK_ENTRIES) {
            int n = (int) Math.min(CHUNK_ENTRIES, tableSize - done);
            ByteBuffer chunk = HostReads.read(file, tableOffset + done * 8, n * 8);
            for (int i = 0; i < n; i++) {
                long data = chunk.getLong(i * 8) & Qcow2BitmapDirectory.TABLE_ENTRY_OFFSET_MASK;
                if (data != 0) {
                    refcounts().free(data, clusterSize);
                    for (long index : punched) {
                        file.punchHole(index << clusterBits, clusterSize);
                    }
                    punched.clear();
                }
            }
        }
        refcounts().free(tableOffset, tableSize * 8);
        punched.clear();
    }

    /** bitmap_list_store's directory bytes (entries checked by check_dir_entry). */
    private byte[] directoryBytes(List<DirEntry> list, long virtualSize) {
        int size = 0;
        for (DirEntry e : list) {
            size += (int) Qcow2BitmapDirectory.entrySize(utf8(e.name).length, 0);
        }
        ByteBuffer dir = ByteBuffer.allocate(size);
        int at = 0;
        for (DirEntry e : list) {
            byte[] name = utf8(e.name);
            Qcow2BitmapDirectory.Entry check = new Qcow2BitmapDirectory.Entry(0, e.tableOffset, e.tableSize, e.flags,
                    Qcow2BitmapDirectory.TYPE_DIRTY_TRACKING, e.granularityBits, e.name, 0);
            if (!Qcow2BitmapDirectory.satisfiesConstraints(check, clusterSize, virtualSize)) {
                throw StrataException.invalid("Invalid argument");
            }
            dir.putLong(at, e.tableOffset);
            dir.putInt(at + 8, (int) e.tableSize);
            dir.putInt(at + 12, e.flags);
            dir.put(at + 16, (byte) Qcow2BitmapDirectory.TYPE_DIRTY_TRACKING);
            dir.put(at + 17, (byte) e.granularityBits);
            dir.putShort(at + 18, (short) name.length);
            dir.putInt(at + 20, 0);
            dir.put(at + Qcow2BitmapDirectory.ENTRY_HEADER_SIZE, name);
            at += (int) Qcow2BitmapDirectory.entrySize(name.length, 0);
        }
        return dir.array();
    }

    private void writeHeader(Qcow2HeaderRewrite h) {
        h.write(file);
        file.flush();
        headerRewritten.run();
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
