package dev.strata.engine.format.qcow2;

/*
 * Design note: the persistent dirty bitmaps of one open qcow2 image as qemu 7.2's block layer
 * holds them (bs->dirty_bitmaps plus qcow2-bitmap.c), from open to close:
 *
 *  - open (qcow2_load_dirty_bitmaps): every bitmap of the directory is loaded into memory, in
 *    directory order, each inserted at the head of the list as bdrv_create_dirty_bitmap does; one
 *    marked in_use on disk is kept "inconsistent" without data. A writable open marks the others
 *    in_use on disk at once (directory rewritten in place) so that a crash leaves them flagged;
 *    a read-only open makes them read-only.
 *  - while open: the QMP-level operations qemu-img bitmap runs (add, remove, clear, enable,
 *    disable, merge), with the checks and messages of block/monitor/bitmap-qmp-cmds.c,
 *    block/dirty-bitmap.c and qcow2_co_can_store_new_dirty_bitmap; remove rewrites the directory
 *    at once (qcow2_co_remove_persistent_dirty_bitmap); guest writes mark enabled bitmaps dirty.
 *  - close (qcow2_store_persistent_dirty_bitmaps): every consistent, writable bitmap is written
 *    anew (data, table), the directory rewritten without in_use flags (auto for enabled ones),
 *    and the old tables freed; inconsistent bitmaps keep their entry as it was.
 *
 * Metadata actions need the image's writer flushed; the owner passes that as beforeMetadata.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.image.DirtyBitmap;
import dev.strata.engine.storage.Storage;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/** The persistent bitmaps of an open qcow2 image. Thread-safe. */
public final class Qcow2Bitmaps {
    private static final long MIN_GRANULARITY = 512;

    private final Storage file;
    private final boolean writable;
    private final int version;
    private final int clusterSize;
    private final Qcow2BitmapStore store;
    private final Runnable beforeMetadata;
    /** qemu's auto-generated node name ("#block1NN"), made on first use ({@link #nodeName()}). */
    private String nodeName;
    private volatile long virtualSize;
    /** qemu's bs->dirty_bitmaps: newest first. */
    private final List<PersistentBitmap> list = new ArrayList<>();
    /**
     * qemu's s->nb_bitmaps, bitmap_directory_offset and _size: the directory as this open knows
     * it (null: none), which stays valid when a downgrade to v2 leaves the header without the
     * autoclear bit that vouches for it on disk.
     */
    private Qcow2HeaderExtension.BitmapsExtension directory;
    /** Whether the bitmaps went to another open of the file ({@link #carryOver}): nothing to store. */
    private boolean carried;
    private volatile PersistentBitmap[] enabled = new PersistentBitmap[0];
    /** Per thread: how many {@link #untracked} calls are running. */
    private final ThreadLocal<int[]> untracked = new ThreadLocal<>() {
        // A subclass, not withInitial(lambda): built at every qcow2 open (see HostFiles.Binding).
        @Override
        protected int[] initialValue() {
            return new int[1];
        }
    };

    /** One dirty bitmap in memory. */
    public static final class PersistentBitmap {
        private final String name;
        private volatile DirtyBitmap bits;
        private volatile boolean enabled;
        private final boolean inconsistent;
        private final boolean readOnly;

        PersistentBitmap(String name, DirtyBitmap bits, boolean enabled, boolean inconsistent, boolean readOnly) {
            this.name = name;
            this.bits = bits;
            this.enabled = enabled;
            this.inconsistent = inconsistent;
            this.readOnly = readOnly;
        }

        /** The bitmap's name. */
        public String name() {
            return name;
        }

        /** Its bits (all clean for an inconsistent bitmap, whose data is not loaded). */
        public DirtyBitmap bits() {
            return bits;
        }

        /** Whether writes mark it (the auto flag). */
        public boolean enabled() {
            return enabled;
        }

        /** Whether it was in_use on disk when the image was opened (its data unusable). */
        public boolean inconsistent() {
            return inconsistent;
        }

        /** Whether the image was opened read-only. */
        public boolean readOnly() {
            return readOnly;
        }

        /** Bytes per bit. */
        public long granularity() {
            return bits.granularity();
        }
    }

    private Qcow2Bitmaps(Storage file, Qcow2Header header, boolean writable, Runnable beforeMetadata,
                         Runnable headerRewritten) {
        this.file = file;
        this.writable = writable;
        this.version = header.version();
        this.clusterSize = header.clusterSize();
        this.virtualSize = header.virtualSize();
        this.beforeMetadata = beforeMetadata;
        this.store = new Qcow2BitmapStore(file, header.clusterBits(), headerRewritten);
    }

    /**
     * The node name error messages show. Made when first needed, not at every open: the
     * formatting and the random number generator cost a qcow2 open about a millisecond of
     * start-up, for messages that are rarely printed.
     */
    private synchronized String nodeName() {
        if (nodeName == null) {
            nodeName = "#block1" + String.format("%02d", ThreadLocalRandom.current().nextInt(100));
        }
        return nodeName;
    }

    /**
     * qcow2_load_dirty_bitmaps: loads the bitmaps of {@code directory}; a writable open marks
     * the consistent ones in_use on disk.
     *
     * @param beforeMetadata   run before any metadata change (flushes the image's writer)
     * @param headerRewritten  run after each header rewrite
     * @throws StrataException EINVAL "Could not read bitmap 'NAME' from image: Invalid argument"
     */
    static Qcow2Bitmaps load(Storage file, Qcow2Header header, Qcow2BitmapDirectory directory, boolean writable,
                             Runnable beforeMetadata, Runnable headerRewritten) {
        Qcow2Bitmaps b = new Qcow2Bitmaps(file, header, writable, beforeMetadata, headerRewritten);
        b.directory = directory.entries().isEmpty() ? null : header.bitmapsExtension();
        List<Qcow2BitmapStore.DirEntry> entries = new ArrayList<>();
        boolean needsUpdate = false;
        for (Qcow2BitmapDirectory.Entry e : directory.entries()) {
            Qcow2BitmapStore.DirEntry d = Qcow2BitmapStore.DirEntry.of(e);
            entries.add(d);
            DirtyBitmap bits = e.inUse() ? new DirtyBitmap(b.virtualSize, e.granularity())
                    : b.store.loadBits(d, b.virtualSize);
            if (!e.inUse()) {
                d.flags |= Qcow2BitmapDirectory.FLAG_IN_USE;
                needsUpdate = true;
            }
            b.list.add(0, new PersistentBitmap(e.name(), bits, e.auto(), e.inUse(), !writable));
        }
        if (needsUpdate && writable) {
            b.store.rewriteDirectoryInPlace(entries, b.virtualSize);
        }
        b.refreshEnabled();
        return b;
    }

    /**
     * Names the allocator the bitmaps share qemu's one free-cluster index with: each metadata
     * action (remove, the store on close) starts its free-cluster search at {@code current}
     * and hands where it stopped to {@code update}. The image's writer is the default; an
     * operation that edits the file with its own refcount writer while the image is open (a
     * snapshot create or delete) names that one instead.
     */
    public synchronized void shareFreeClusterSearch(LongSupplier current, LongConsumer update) {
        store.shareFreeClusterSearch(current, update);
    }

    /** qemu's free_cluster_index as the allocator named by {@link #shareFreeClusterSearch} has it. */
    public synchronized long freeClusterIndex() {
        return store.freeClusterIndex();
    }

    /** Makes the allocator named by {@link #shareFreeClusterSearch} continue its search at {@code index}. */
    public synchronized void continueFreeClusterSearchAt(long index) {
        store.continueFreeClusterSearchAt(index);
    }

    /** Bitmaps one open of an image hands to the next open of the same file ({@link #carryOver}). */
    public static final class Carried {
        private final List<PersistentBitmap> bitmaps;

        private Carried(List<PersistentBitmap> bitmaps) {
            this.bitmaps = List.copyOf(bitmaps);
        }
    }

    /**
     * Hands the bitmaps in memory to the next open of the same file by the same operation (an
     * amend reopens the image for its size step, where qemu keeps one BlockDriverState): from
     * now on this open stores nothing, so its close leaves the directory as it is (in_use).
     */
    public synchronized Carried carryOver() {
        carried = true;
        return new Carried(list);
    }

    /**
     * Takes the bitmaps {@code from} the previous open of this file in place of the ones this
     * open loaded (which that open had marked in_use, so they loaded as inconsistent): their
     * bits, enabled state and consistency as they were in memory, stored when this image closes.
     */
    public synchronized void takeOver(Carried from) {
        list.clear();
        for (PersistentBitmap p : from.bitmaps) {
            DirtyBitmap bits = p.bits;
            if (bits.size() != virtualSize) {
                throw new IllegalStateException("bitmap '" + p.name + "' carried over at another size");
            }
            list.add(new PersistentBitmap(p.name, bits, p.enabled, p.inconsistent, !writable));
        }
        refreshEnabled();
    }

    /** The bitmaps, in qemu's list order (newest first). */
    public synchronized List<PersistentBitmap> bitmaps() {
        return Collections.unmodifiableList(new ArrayList<>(list));
    }

    /** The bitmap called {@code name}. */
    public synchronized Optional<PersistentBitmap> find(String name) {
        for (PersistentBitmap p : list) {
            if (p.name.equals(name)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** Marks {@code [offset, offset + length)} dirty in every enabled bitmap (bdrv_set_dirty). */
    public void guestWrite(long offset, long length) {
        if (untracked.get()[0] > 0) {
            return;
        }
        for (PersistentBitmap p : enabled) {
            p.bits.set(offset, length);
        }
    }

    /**
     * qcow2_truncate_bitmaps_check: a resize needs every bitmap of the directory in memory and
     * usable; the first inconsistent one (directory order) refuses it.
     *
     * @throws StrataException EINVAL "Bitmap 'NAME' is inconsistent and cannot be used" (with
     *                         qemu's hint line)
     */
    synchronized void checkResizable() {
        for (int i = list.size() - 1; i >= 0; i--) {
            checkUsable(list.get(i), true);
        }
    }

    /**
     * Runs {@code action} (on this thread) without marking any bitmap: for writes a driver makes
     * on its own behalf rather than through the block layer, such as the zeroing of the range a
     * resize adds over a longer backing file (qcow2_co_truncate's BDRV_REQ_ZERO_WRITE).
     */
    public void untracked(Runnable action) {
        int[] depth = untracked.get();
        depth[0]++;
        try {
            action.run();
        } finally {
            depth[0]--;
        }
    }

    /**
     * The image's virtual size changed: every bitmap follows it as bdrv_dirty_bitmap_truncate
     * (hbitmap_truncate) does: chunks wholly past a smaller end are dropped, a partial last
     * chunk keeps its bit, a larger end adds clean chunks.
     */
    synchronized void virtualSizeChanged(long size) {
        this.virtualSize = size;
        for (PersistentBitmap p : list) {
            DirtyBitmap old = p.bits;
            if (old.size() == size) {
                continue;
            }
            DirtyBitmap resized = new DirtyBitmap(size, old.granularity());
            long pos = old.size() == 0 ? -1 : old.nextDirty(0);
            while (pos >= 0 && pos < size) {
                long end = old.nextClean(pos);
                if (end < 0) {
                    end = old.size();
                }
                resized.set(pos, Math.min(end, size) - pos);
                pos = end >= old.size() ? -1 : old.nextDirty(end);
            }
            p.bits = resized;
        }
        refreshEnabled();
    }

    /** The default granularity of a new bitmap (bdrv_get_default_bitmap_granularity). */
    public long defaultGranularity() {
        return Math.min(65536, Math.max(4096, clusterSize));
    }

    /**
     * qmp_block_dirty_bitmap_add with persistent=true.
     *
     * @param granularity the requested granularity (as qemu's uint32), or null for the default
     * @param disabled    whether the new bitmap starts disabled
     */
    public synchronized void add(String name, Long granularity, boolean disabled) {
        if (name.isEmpty()) {
            throw StrataException.invalid("Bitmap name cannot be empty");
        }
        long g;
        if (granularity != null) {
            g = granularity & 0xffffffffL;
            if (g < MIN_GRANULARITY || Long.bitCount(g) != 1) {
                throw StrataException.invalid("Granularity must be power of 2 and at least 512");
            }
        } else {
            g = defaultGranularity();
        }
        if (find(name).isPresent()) {
            throw StrataException.invalid("Bitmap already exists: " + name);
        }
        String cannot = "Can't make bitmap '" + name + "' persistent in '" + nodeName() + "': ";
        if (version < 3) {
            throw StrataException.invalid(cannot + "Cannot store dirty bitmaps in qcow2 v2 files");
        }
        String constraint = constraintViolation(name, g);
        if (constraint != null) {
            throw StrataException.invalid(cannot + constraint);
        }
        long count = 1;
        long dirSize = Qcow2BitmapDirectory.entrySize(Qcow2BitmapStore.utf8(name).length, 0);
        for (PersistentBitmap p : list) {
            count++;
            dirSize += Qcow2BitmapDirectory.entrySize(Qcow2BitmapStore.utf8(p.name).length, 0);
        }
        if (count > Qcow2Header.MAX_BITMAPS) {
            throw StrataException.invalid(cannot + "Maximum number of persistent bitmaps is already reached");
        }
        if (dirSize > Qcow2Header.MAX_BITMAP_DIRECTORY_SIZE) {
            throw StrataException.invalid(cannot + "Not enough space in the bitmap directory");
        }
        list.add(0, new PersistentBitmap(name, new DirtyBitmap(virtualSize, g), !disabled, false, !writable));
        refreshEnabled();
    }

    /** qemu's check_constraints_on_bitmap, or null when satisfied. */
    private String constraintViolation(String name, long granularity) {
        int bits = Long.numberOfTrailingZeros(granularity);
        if (bits > Qcow2BitmapDirectory.MAX_GRANULARITY_BITS) {
            return "Granularity exceeds maximum (" + (1L << Qcow2BitmapDirectory.MAX_GRANULARITY_BITS) + " bytes)";
        }
        if (bits < Qcow2BitmapDirectory.MIN_GRANULARITY_BITS) {
            return "Granularity is under minimum (" + (1L << Qcow2BitmapDirectory.MIN_GRANULARITY_BITS) + " bytes)";
        }
        long chunks = virtualSize == 0 ? 0 : ((virtualSize - 1) >>> bits) + 1;
        long bytes = (chunks + 7) / 8;
        if (bytes > Qcow2BitmapDirectory.MAX_PHYS_SIZE || bytes > Qcow2BitmapDirectory.MAX_TABLE_SIZE * clusterSize) {
            return "Too much space will be occupied by the bitmap. Use larger granularity";
        }
        if (Qcow2BitmapStore.utf8(name).length > Qcow2BitmapDirectory.MAX_NAME_SIZE) {
            return "Name length exceeds maximum (" + Qcow2BitmapDirectory.MAX_NAME_SIZE + " characters)";
        }
        return null;
    }

    /** qmp_block_dirty_bitmap_remove: drops the bitmap from memory and from the image at once. */
    public synchronized void remove(String name) {
        PersistentBitmap p = lookup(name);
        if (p.readOnly) {
            throw readOnly(p);
        }
        beforeMetadata.run();
        List<Qcow2BitmapStore.DirEntry> onDisk = diskList();
        Qcow2BitmapStore.DirEntry gone = null;
        for (Qcow2BitmapStore.DirEntry d : onDisk) {
            if (d.name.equals(name)) {
                gone = d;
            }
        }
        if (gone != null) {
            onDisk.remove(gone);
            try {
                directory = store.writeDirectory(onDisk, virtualSize, directory);
                store.freeBitmap(gone.tableOffset, gone.tableSize);
            } finally {
                store.actionDone();
            }
        }
        list.remove(p);
        refreshEnabled();
    }

    /** qmp_block_dirty_bitmap_clear. */
    public synchronized void clear(String name) {
        PersistentBitmap p = lookup(name);
        checkUsable(p, true);
        p.bits.clear();
    }

    /** qmp_block_dirty_bitmap_enable / _disable. */
    public synchronized void setEnabled(String name, boolean on) {
        PersistentBitmap p = lookup(name);
        checkUsable(p, false);
        p.enabled = on;
        refreshEnabled();
    }

    /**
     * qmp_block_dirty_bitmap_merge of one source bitmap ({@code source} may be this image or
     * another one) into {@code target}; the target is unchanged on failure.
     */
    public void merge(String target, Qcow2Bitmaps source, String sourceName) {
        PersistentBitmap dst;
        synchronized (this) {
            dst = lookup(target);
        }
        PersistentBitmap src;
        synchronized (source) {
            src = source.lookup(sourceName);
        }
        if (src.inconsistent) {
            // qemu 7.2 reports an inconsistent source under the target's name (verified)
            throw inconsistent(dst.name);
        }
        if (src.bits.size() != dst.bits.size()) {
            throw StrataException.invalid("Bitmaps are of different sizes (destination size is " + dst.bits.size()
                    + ", source size is " + src.bits.size() + ") and can't be merged");
        }
        DirtyBitmap anon = new DirtyBitmap(dst.bits.size(), dst.bits.granularity());
        anon.merge(src.bits);
        synchronized (this) {
            checkUsable(dst, true);
            dst.bits.merge(anon);
        }
    }

    /** Merges {@code bits} into {@code target} (convert --bitmaps' merge of a source image's bitmap). */
    public synchronized void mergeBits(String target, DirtyBitmap bits) {
        PersistentBitmap dst = lookup(target);
        checkUsable(dst, true);
        DirtyBitmap anon = new DirtyBitmap(dst.bits.size(), dst.bits.granularity());
        anon.merge(bits);
        dst.bits.merge(anon);
    }

    /**
     * qcow2_store_persistent_dirty_bitmaps: writes every consistent bitmap anew and the directory
     * (nothing when there is nothing to write).
     */
    public synchronized void storeAll() {
        if (!writable || carried) {
            return;
        }
        List<PersistentBitmap> toWrite = new ArrayList<>();
        for (PersistentBitmap p : list) {
            if (!p.inconsistent && !p.readOnly) {
                toWrite.add(p);
            }
        }
        if (toWrite.isEmpty()) {
            return;
        }
        beforeMetadata.run();
        List<Qcow2BitmapStore.DirEntry> onDisk = diskList();
        List<long[]> dropTables = new ArrayList<>();
        List<Qcow2BitmapStore.DirEntry> written = new ArrayList<>();
        List<PersistentBitmap> writtenBits = new ArrayList<>();
        for (PersistentBitmap p : toWrite) {
            String constraint = constraintViolation(p.name, p.granularity());
            if (constraint != null) {
                throw StrataException.invalid("Bitmap '" + p.name + "' doesn't satisfy the constraints: " + constraint);
            }
            Qcow2BitmapStore.DirEntry d = null;
            for (Qcow2BitmapStore.DirEntry e : onDisk) {
                if (e.name.equals(p.name)) {
                    d = e;
                }
            }
            if (d == null) {
                d = new Qcow2BitmapStore.DirEntry(p.name, 0, 0, 0, p.bits.granularityBits());
                onDisk.add(d);
            } else {
                if ((d.flags & Qcow2BitmapDirectory.FLAG_IN_USE) == 0) {
                    throw StrataException.invalid("Bitmap '" + p.name + "' already exists in the image");
                }
                dropTables.add(new long[] {d.tableOffset, d.tableSize});
                d.tableOffset = 0;
                d.tableSize = 0;
            }
            d.flags = p.enabled ? Qcow2BitmapDirectory.FLAG_AUTO : 0;
            d.granularityBits = p.bits.granularityBits();
            written.add(d);
            writtenBits.add(p);
        }
        try {
            for (Qcow2BitmapStore.DirEntry d : onDisk) {
                int i = written.indexOf(d);
                if (i >= 0) {
                    store.storeBitmap(d, writtenBits.get(i).bits);
                }
            }
            directory = store.writeDirectory(onDisk, virtualSize, directory);
            for (long[] t : dropTables) {
                store.freeBitmap(t[0], t[1]);
            }
        } finally {
            store.actionDone();
        }
    }

    /** The directory on disk now (bitmap_list_load of the directory this open knows). */
    private List<Qcow2BitmapStore.DirEntry> diskList() {
        store.refcountsChanged();
        List<Qcow2BitmapStore.DirEntry> out = new ArrayList<>();
        if (directory == null) {
            return out;
        }
        for (Qcow2BitmapDirectory.Entry e : Qcow2BitmapDirectory.parse(file, directory.directoryOffset(),
                directory.directorySize(), directory.nbBitmaps(), clusterSize, virtualSize).entries()) {
            out.add(Qcow2BitmapStore.DirEntry.of(e));
        }
        return out;
    }

    private PersistentBitmap lookup(String name) {
        return find(name).orElseThrow(() -> new StrataException(ErrorKind.ENOENT,
                "Dirty bitmap '" + name + "' not found"));
    }

    /** bdrv_dirty_bitmap_check with BDRV_BITMAP_DEFAULT (modify) or BDRV_BITMAP_ALLOW_RO. */
    private static void checkUsable(PersistentBitmap p, boolean modify) {
        if (modify && p.readOnly) {
            throw readOnly(p);
        }
        if (p.inconsistent) {
            throw inconsistent(p.name);
        }
    }

    private static StrataException inconsistent(String name) {
        return new StrataException(ErrorKind.EINVAL, "Bitmap '" + name + "' is inconsistent and cannot be used\n"
                + "Try block-dirty-bitmap-remove to delete this bitmap from disk");
    }

    private static StrataException readOnly(PersistentBitmap p) {
        return StrataException.invalid("Bitmap '" + p.name + "' is readonly and cannot be modified");
    }

    private void refreshEnabled() {
        List<PersistentBitmap> on = new ArrayList<>();
        for (PersistentBitmap p : list) {
            if (p.enabled && !p.inconsistent && !p.readOnly) {
                on.add(p);
            }
        }
        enabled = on.toArray(new PersistentBitmap[0]);
    }
}
