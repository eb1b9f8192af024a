package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu-img check -r opens the image read-write in check mode (BDRV_O_RDWR |
 * BDRV_O_CHECK), checks and repairs it, checks it again when something was fixed, and closes
 * it. What that open and that close do to the file besides the check, as qemu 7.2 does it:
 *
 *  - open: the header update of a writable open (Qcow2OpenHeader: an ignored bitmaps extension
 *    and unknown autoclear bits dropped); the persistent bitmaps loaded and, the image being
 *    writable, marked in_use on disk (directory rewritten in place, Qcow2Bitmaps.load). No
 *    snapshot table is read and a dirty image is not repaired here (check mode);
 *  - close (qcow2_inactivate): the bitmaps stored again (new data clusters, tables and directory,
 *    the old ones freed: Qcow2Bitmaps.storeAll).
 *
 * qemu's check mode does not read the snapshot table, so it holds no snapshots; when that open
 * rewrites the header (the update, or the in_use marking of a consistent bitmap), qemu 7.2
 * writes nb_snapshots 0 and no snapshot table offset, and the repair that follows frees every
 * cluster only the snapshots used. strata does not do that: losesSnapshots() tells the caller
 * to refuse such an image before anything is written.
 *
 * Otherwise the caller may apply the open after the repair instead of before it: neither then
 * reads what the other writes (the checker counts a bitmap directory by the autoclear bit, not
 * by its in_use flags; the header update rewrites the header from what is on disk, which holds
 * the same fields qemu's memory does), so the file ends the same; and a repair strata refuses
 * leaves the file untouched.
 *
 * The bitmaps' free-cluster search starts at cluster 0 when they are stored, which is where
 * qemu's one free_cluster_index stands at the close: the open allocates nothing, and the repairs
 * only lower it (leak fixes free clusters; the refcount rebuild places its structure with a
 * search of its own).
 */

import dev.strata.engine.storage.Storage;

/** The read-write open and the close qemu-img check -r wraps its repair in (qcow2). */
public final class Qcow2RepairOpen {
    private final Storage file;
    private final Qcow2Bitmaps bitmaps;

    private Qcow2RepairOpen(Storage file, Qcow2Bitmaps bitmaps) {
        this.file = file;
        this.bitmaps = bitmaps;
    }

    /**
     * Whether qemu's check-mode open of {@code file} for writing would drop its internal
     * snapshots: the image has some, and the open rewrites the header (an ignored bitmaps
     * extension or an unknown autoclear bit to drop, or a consistent bitmap to mark in_use).
     */
    public static boolean losesSnapshots(Storage file) {
        Qcow2Header header = Qcow2Header.parse(file, true);
        if (header.nbSnapshots() == 0) {
            return false;
        }
        if (Qcow2OpenHeader.updatedOnWritableOpen(header)) {
            return true;
        }
        for (Qcow2BitmapDirectory.Entry e : Qcow2BitmapDirectory.parse(file, header).entries()) {
            if (!e.inUse()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Does to {@code file} (opened read-write, and already opened by the caller as qemu's check
     * mode opens it) what qemu's check-mode open of a writable qcow2 image does.
     *
     * @throws dev.strata.engine.StrataException when a bitmap cannot be loaded, or when the
     *         header needs the update but only check mode accepts it
     */
    public static Qcow2RepairOpen open(Storage file) {
        Qcow2Header header = Qcow2OpenHeader.updateOnWritableOpen(file, Qcow2Header.parse(file, true), true);
        Qcow2Bitmaps bitmaps = Qcow2Bitmaps.load(file, header, Qcow2BitmapDirectory.parse(file, header), true,
                () -> { }, () -> { });
        return new Qcow2RepairOpen(file, bitmaps);
    }

    /** Whether the open loaded a persistent bitmap that the close would store (one not in_use before). */
    public boolean hasBitmapsToStore() {
        for (Qcow2Bitmaps.PersistentBitmap b : bitmaps.bitmaps()) {
            if (!b.inconsistent()) {
                return true;
            }
        }
        return false;
    }

    /** qcow2_inactivate's bitmap store (nothing when no bitmap can be stored). */
    public void storeBitmaps() {
        bitmaps.storeAll();
        file.flush();
    }
}
