package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu 7.2's qcow2_amend_options over one open image file, step for step:
 *
 *  1. the options that were set are checked in the order of qemu's amend option list
 *     (encrypt.*, size, compat, backing_file, backing_fmt, data_file, data_file_raw,
 *     lazy_refcounts, refcount_bits), each failing with qemu's message before anything is
 *     written;
 *  2. upgrade to v3 (header rewrite); refcount width change (Qcow2RefcountOrderChange);
 *     data_file_raw / data_file and the header rewrite qemu always does at that point; the
 *     backing file refusal (after that rewrite, as in qemu); lazy refcounts on/off; the new
 *     size (through the caller's resize, which is the normal resize path); downgrade to v2
 *     last (Qcow2Downgrade).
 *
 * Every header write is qcow2_update_header's full first cluster (Qcow2HeaderRewrite), so the
 * header comes out laid out as qemu lays it out. Progress goes through Qcow2AmendProgress.
 * The steps that allocate (refcount width change, resize, zero expansion) continue qemu's one
 * free_cluster_index of the open image, which the caller passes in and gets back: the
 * persistent bitmaps the caller's open image stores when it closes continue from there.
 *
 * Not supported, refused before the first write (never half done): changing LUKS encryption
 * options, and upgrading v2 images whose snapshot entries lack the v3 extra data (qemu then
 * rewrites the snapshot table).
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.CacheMode;
import dev.strata.engine.storage.Storage;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/** Amends the options of a qcow2 image (qemu-img amend). */
public final class Qcow2Amender {
    /** Width of the v3 snapshot extra data qemu requires (64-bit VM state size and disk size). */
    private static final int V3_SNAPSHOT_EXTRA = 16;

    private final Storage file;
    private final CacheMode cache;
    private final AtomicLong freeClusterIndex;
    private Qcow2HeaderRewrite state;

    /**
     * The options that were set (null or false for those that were not), as parsed against the
     * amend option list.
     *
     * @param encryption   whether any encrypt.* option was set
     * @param compat       the compat value, or null
     * @param size         the size value, or null (0 means no change, as in qemu)
     * @param backingFile  whether backing_file was set, and its value
     * @param backingFmt   whether backing_fmt was set, and its value
     * @param dataFile     the data_file value, or null
     * @param dataFileRaw  the data_file_raw value, or null
     * @param lazyRefcounts the lazy_refcounts value, or null
     * @param refcountBits the refcount_bits value as qemu's unsigned number, or null
     */
    public record Request(boolean encryption, String compat, Long size, Optional backingFile, Optional backingFmt,
                          String dataFile, Boolean dataFileRaw, Boolean lazyRefcounts, Long refcountBits) {
    }

    /** A string option that may be set to a value (possibly empty) or not set. */
    public record Optional(boolean set, String value) {
        /** Not set. */
        public static final Optional UNSET = new Optional(false, null);
    }

    /** The normal resize path, run on the open image with qemu's exact semantics. */
    @FunctionalInterface
    public interface Resize {
        /**
         * Resizes the image to {@code newSize} bytes (shrinking allowed, no preallocation), its
         * allocations continuing the amend's free-cluster index (and moving it).
         */
        void to(long newSize);
    }

    private Qcow2Amender(Storage file, CacheMode cache, AtomicLong freeClusterIndex) {
        this.file = file;
        this.cache = cache;
        this.freeClusterIndex = freeClusterIndex;
        this.state = Qcow2HeaderRewrite.load(file);
    }

    /**
     * Runs qcow2_amend_options on the image in {@code file} (open read-write; the caller opened
     * the image normally before, so it is a valid, clean qcow2 image).
     *
     * @param status           receives qemu's status callback values
     * @param resize           the resize path for a size change
     * @param freeClusterIndex qemu's free_cluster_index of the open image: where the first
     *                         allocation starts its search; updated as the steps allocate and free
     * @throws StrataException with qemu's message (what was written before the failure stays
     *         written, as in qemu)
     */
    public static void amend(Storage file, Request request, CacheMode cache, Qcow2AmendProgress.Status status,
                             Resize resize, AtomicLong freeClusterIndex) {
        new Qcow2Amender(file, cache, freeClusterIndex).run(request, status, resize);
    }

    private void run(Request r, Qcow2AmendProgress.Status status, Resize resize) {
        int oldVersion = state.version;
        int newVersion = oldVersion;
        boolean lazy = (state.compatible & Qcow2FeatureBits.COMPAT_LAZY_REFCOUNTS) != 0;
        boolean dataFileRaw = (state.autoclear & Qcow2FeatureBits.AUTOCLEAR_DATA_FILE_RAW) != 0;
        int refcountBits = 1 << state.refcountOrder;
        boolean encryptionUpdate = false;
        if (r.encryption()) {
            if (state.cryptMethod == 0) {
                throw StrataException.invalid("Can't amend encryption options - encryption not present");
            }
            if (state.cryptMethod != 2) {
                throw StrataException.unsupported("Only LUKS encryption options can be amended");
            }
            encryptionUpdate = true;
        }
        if (r.compat() != null) {
            switch (r.compat()) {
                case "0.10", "v2" -> newVersion = 2;
                case "1.1", "v3" -> newVersion = 3;
                default -> throw StrataException.invalid("Unknown compatibility level " + r.compat());
            }
        }
        String dataFile = r.dataFile();
        if (dataFile != null && !state.hasDataFile()) {
            throw StrataException.invalid("data-file can only be set for images that use an external data file");
        }
        if (r.dataFileRaw() != null) {
            dataFileRaw = r.dataFileRaw();
            if (dataFileRaw && (state.autoclear & Qcow2FeatureBits.AUTOCLEAR_DATA_FILE_RAW) == 0) {
                throw StrataException.invalid("data-file-raw cannot be set on existing images");
            }
        }
        if (r.lazyRefcounts() != null) {
            lazy = r.lazyRefcounts();
        }
        if (r.refcountBits() != null) {
            refcountBits = (int) (long) r.refcountBits();
            if (refcountBits <= 0 || refcountBits > 64 || Integer.bitCount(refcountBits) != 1) {
                throw StrataException.invalid("Refcount width must be a power of two and may not exceed 64 bits");
            }
        }
        refuseUnsupported(newVersion, oldVersion, encryptionUpdate);

        int total = (newVersion != oldVersion ? 1 : 0) + (refcountBits != (1 << state.refcountOrder) ? 1 : 0)
                + (encryptionUpdate ? 1 : 0);
        Qcow2AmendProgress progress = new Qcow2AmendProgress(status, total);
        Runnable barrier = this::barrier;

        if (newVersion > oldVersion) {
            progress.begin(Qcow2AmendProgress.Operation.UPGRADING);
            progress.report(0, 2);
            progress.report(1, 2);
            state.version = newVersion;
            state.write(file);
            progress.report(2, 2);
        }
        if (refcountBits != (1 << state.refcountOrder)) {
            if (newVersion < 3 && refcountBits != 16) {
                throw StrataException.invalid("Refcount widths other than 16 bits require compatibility level 1.1"
                        + " or above (use compat=1.1 or greater)");
            }
            progress.begin(Qcow2AmendProgress.Operation.CHANGING_REFCOUNT_ORDER);
            Qcow2RefcountOrderChange.run(file, state, Integer.numberOfTrailingZeros(refcountBits), progress,
                    barrier, freeClusterIndex);
        }
        if (dataFileRaw) {
            state.autoclear |= Qcow2FeatureBits.AUTOCLEAR_DATA_FILE_RAW;
        } else {
            state.autoclear &= ~Qcow2FeatureBits.AUTOCLEAR_DATA_FILE_RAW;
        }
        if (dataFile != null) {
            state.dataFile = dataFile.isEmpty() ? null : dataFile;
        }
        state.write(file);
        barrier();

        if (r.backingFile().set() || r.backingFmt().set()) {
            if (!Objects.equals(r.backingFile().value(), state.backingFile)
                    || !Objects.equals(r.backingFmt().value(), state.backingFormat)) {
                // qemu's message with its hint line (which names qemu-img literally)
                throw StrataException.invalid("Cannot amend the backing file\n"
                        + "You can use 'qemu-img rebase' instead.");
            }
        }
        boolean currentLazy = (state.compatible & Qcow2FeatureBits.COMPAT_LAZY_REFCOUNTS) != 0;
        if (currentLazy != lazy) {
            if (lazy && newVersion < 3) {
                throw StrataException.invalid("Lazy refcounts only supported with compatibility level 1.1 and above"
                        + " (use compat=1.1 or greater)");
            }
            if (lazy) {
                state.compatible |= Qcow2FeatureBits.COMPAT_LAZY_REFCOUNTS;
            } else {
                state.incompatible &= ~Qcow2FeatureBits.INCOMPAT_DIRTY;
                state.compatible &= ~Qcow2FeatureBits.COMPAT_LAZY_REFCOUNTS;
            }
            state.write(file);
            barrier();
        }
        if (r.size() != null && r.size() != 0) {
            file.flush();
            resize.to(r.size());
            state = Qcow2HeaderRewrite.load(file);
        }
        if (newVersion < oldVersion) {
            progress.begin(Qcow2AmendProgress.Operation.DOWNGRADING);
            Qcow2Downgrade.run(file, state, progress, barrier, freeClusterIndex);
        }
        file.flush();
    }

    /** The refusals of what strata cannot do, before anything is written. */
    private void refuseUnsupported(int newVersion, int oldVersion, boolean encryptionUpdate) {
        if (encryptionUpdate) {
            throw new StrataException(ErrorKind.ENOTSUP, "Amending LUKS encryption options is not supported by"
                    + " strata-img; use qemu-img amend");
        }
        if (newVersion > oldVersion) {
            Qcow2SnapshotTable snapshots = Qcow2SnapshotTable.parse(file, state.snapshotsOffset, state.nbSnapshots);
            for (Qcow2SnapshotTable.Entry e : snapshots.entries()) {
                if (e.extraDataSize() < V3_SNAPSHOT_EXTRA) {
                    throw new StrataException(ErrorKind.ENOTSUP, "Upgrading an image whose snapshot table lacks the"
                            + " v3 extra data is not supported by strata-img; use qemu-img amend");
                }
            }
        }
    }

    private void barrier() {
        if (cache.honoursFlush()) {
            file.flush();
        }
    }

}
