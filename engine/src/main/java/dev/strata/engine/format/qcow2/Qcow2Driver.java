package dev.strata.engine.format.qcow2;

/*
 * Design note: the qcow2 read driver. Opening mirrors qemu's qcow2_do_open (header and
 * extensions, active L1 table, LUKS header, external data file, snapshot table, bitmap
 * directory) so that broken images fail with qemu's message at the same step. After opening,
 * everything is immutable except two caches (L2 slices, decoded compressed clusters) that are
 * safe for concurrent use, so map() may be called from any number of threads.
 *
 * map() answers one run of one subcluster type, at most one L2 slice long, translated to our
 * Mapping the way qemu's qcow2_co_block_status reports it:
 *   NORMAL            -> Raw (Coded when encrypted: DATA without an offset); with
 *                        metadata preallocation detected, host holes add ZERO (BDRV_BLOCK_RECURSE)
 *   COMPRESSED        -> Coded(compressed), decoded in the calling thread
 *   ZERO_PLAIN        -> Zero without host location
 *   ZERO_ALLOC        -> Zero with its host location (none when encrypted)
 *   UNALLOCATED_PLAIN -> Unallocated
 *   UNALLOCATED_ALLOC -> Unallocated with its host location (none when encrypted)
 *
 * External data files: qemu-img 7.2 opens a relative data file name relative to the current
 * directory (verified with the real tool). An open for I/O opens the data file and fails with
 * the data file's error, as qemu does; a metadata-only open (OpenOptions.noIo, qemu's
 * BDRV_O_NO_IO, which 'qemu-img info' uses) does not open it at all, so info works without it.
 *
 * Encryption: without a key (we never take one) qemu refuses to open an encrypted image for I/O,
 * at the step of qcow2_do_open where it sets up the cipher: a LUKS image while it reads the
 * header extensions (before the data file), an AES image after the data file. Metadata-only
 * opens skip the key, and then map() answers from metadata while reads of encrypted data fail.
 *
 * Stale bitmaps and the header update (Qcow2OpenHeader): an open of an image whose bitmaps
 * extension is not vouched for by its autoclear bit prints qemu's warning to
 * OpenOptions.diagnostics where qcow2_read_extensions prints it (after the L1 table and the LUKS
 * header, before the data file); a read-write open then rewrites the header without that
 * extension and without unknown autoclear bits, after the snapshot table, as qemu does. A
 * reopen (OpenOptions.reopen, qemu's bdrv_reopen) does neither.
 *
 * Dirty images: a read-write open for I/O of an image whose dirty bit is set (lazy refcounts
 * not written back) first repairs it as qemu's open does (Qcow2Repair.repairOnOpen: recount,
 * fix leaks and errors, rebuild the refcount structure if needed, clear the bit when nothing is
 * left wrong), then reads the metadata again; a failed repair fails the open with qemu's
 * "Could not repair dirty image: ...". The check's lines (qemu prints them on stderr while it
 * opens) go to OpenOptions.diagnostics. A read-only open never writes.
 *
 * Writing: a read-write open (not noIo) also builds a Qcow2Writer over the same L1 table, L2
 * cache and mapper, so reads see every write at once; the writer re-reads the header after it
 * changes it and tells the driver (virtual size, L1, feature bits). close() flushes it first.
 *
 * Persistent bitmaps (Qcow2Bitmaps): a read-write open loads them and marks them in_use on disk,
 * as qemu's open does; the writer reports every guest range it changes so enabled bitmaps get
 * dirty; close() stores them after the writer's flush (qcow2_store_persistent_dirty_bitmaps).
 *
 * Corruption: inconsistent metadata met while mapping (or while probing for metadata
 * preallocation) is signalled once per open layer to the OpenOptions' CorruptionListener, as
 * qemu's qcow2_signal_corruption does for read-only images, and fails the request with EIO.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.LayerDescription;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.Mapping;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.SnapshotInfo;
import dev.strata.engine.format.qcow2.check.Qcow2Repair;
import dev.strata.engine.ops.check.CheckOutcome;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.LockRequest;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Consumer;
import java.util.function.Function;

/** One qcow2 layer; writable through {@link #writer()} when opened read-write. */
public final class Qcow2Driver implements FormatDriver {
    private static final int DECODED_SLOTS = 16;

    private final Storage file;
    private volatile Qcow2Header header;
    private final Qcow2L1Table l1;
    private final Qcow2ClusterMapper mapper;
    private final Qcow2SnapshotTable snapshots;
    private final Qcow2BitmapDirectory bitmaps;
    private final Qcow2LuksHeader luks;
    private final Storage dataFile;
    private final Qcow2CorruptionSignal corruption;
    private volatile long virtualSize;
    private final boolean encrypted;
    private final Qcow2Writer writer;
    private volatile Qcow2Bitmaps persistentBitmaps;
    private final AtomicReferenceArray<Decoded> decoded = new AtomicReferenceArray<>(DECODED_SLOTS);
    private volatile Boolean metadataPreallocated;

    /** A decoded compressed cluster, keyed by its descriptor. */
    private record Decoded(long descriptor, byte[] data) {
    }

    private Qcow2Driver(Storage file, Qcow2Header header, Qcow2L1Table l1, Qcow2LuksHeader luks, Storage dataFile,
                        Qcow2SnapshotTable snapshots, Qcow2BitmapDirectory bitmaps, OpenOptions options) {
        this.file = file;
        this.header = header;
        this.l1 = l1;
        this.luks = luks;
        this.dataFile = dataFile;
        this.snapshots = snapshots;
        this.bitmaps = bitmaps;
        this.virtualSize = header.virtualSize();
        this.encrypted = header.cryptMethod() != 0;
        this.corruption = new Qcow2CorruptionSignal(file.name(), options.corruptionListener());
        Qcow2L2Cache cache = Qcow2L2Cache.forImage(file, header);
        this.mapper = new Qcow2ClusterMapper(header, l1, cache, corruption);
        if (!options.readOnly() && !options.noIo()) {
            WriterHooks hooks = new WriterHooks();
            Qcow2WriteState state = new Qcow2WriteState(file, dataFile != null ? dataFile : file, header, l1, cache,
                    mapper, snapshots, corruption, options.cache(), hooks);
            this.writer = new Qcow2Writer(state, hooks, bitmaps.entries().size() > 0, snapshots.entries().size());
            Qcow2Writer w = writer;
            Qcow2Bitmaps loaded = Qcow2Bitmaps.load(file, header, bitmaps, true, w.metadataFlush(), w.headerReread());
            this.persistentBitmaps = loaded;
            w.onGuestWrite(new Qcow2Writer.GuestWriteListener() {
                @Override
                public void written(long offset, long length) {
                    loaded.guestWrite(offset, length);
                }
            });
            w.useBitmaps(loaded);
        } else {
            this.writer = null;
        }
    }

    /** The writer changed the header on disk: take the new one. */
    private void headerChanged(Qcow2Header changed) {
        this.header = changed;
        this.virtualSize = changed.virtualSize();
    }

    /**
     * What the writer calls back: a header it rewrote, and the decoding of compressed clusters
     * for copy-on-write. A class, not method references (nor is the guest-write listener above a
     * lambda): every writable open would link them at start-up (see HostFiles.Binding).
     */
    private final class WriterHooks implements Consumer<Qcow2Header>, Function<Qcow2L2Entry, byte[]> {
        @Override
        public void accept(Qcow2Header changed) {
            headerChanged(changed);
        }

        @Override
        public byte[] apply(Qcow2L2Entry entry) {
            return decode(entry);
        }
    }

    @Override
    public Optional<LayerWriter> writer() {
        return Optional.ofNullable(writer);
    }

    /**
     * Opens a qcow2 layer over {@code file}, which the driver then owns. Unless
     * {@code options.noIo()}, the external data file is opened too and an encrypted image is
     * refused (no key).
     *
     * @throws StrataException with qemu's message (no "Could not open" prefix) for an invalid
     *         image; EACCES "qcow2: Image is corrupt; cannot be opened read/write" for a
     *         corrupt image opened for writing (read-only opens of corrupt images are allowed);
     *         the data file's open error ("Could not open 'NAME': No such file or directory");
     *         EINVAL "Parameter 'encrypt.key-secret' is required for cipher" for an encrypted
     *         image opened for I/O; "Could not repair dirty image: REASON" when a dirty image
     *         opened read-write cannot be repaired
     */
    public static Qcow2Driver open(Storage file, OpenOptions options) {
        return open(file, options, true);
    }

    private static Qcow2Driver open(Storage file, OpenOptions options, boolean firstPass) {
        Qcow2Header header = Qcow2Header.parse(file);
        if (header.corrupt() && !options.readOnly()) {
            throw new StrataException(ErrorKind.EACCES, "qcow2: Image is corrupt; cannot be opened read/write");
        }
        boolean io = !options.noIo();
        Qcow2L1Table l1 = Qcow2L1Table.parse(file, header.l1TableOffset(), header.l1Size());
        Qcow2LuksHeader luks = null;
        Qcow2HeaderExtension.CryptoHeader ch = header.cryptoHeader();
        if (header.cryptMethod() == 2 && ch != null) {
            if (io) {
                throw keyRequired(); // qemu's LUKS open asks for the key before reading the header
            }
            luks = Qcow2LuksHeader.parse(file, ch.offset(), ch.length());
        }
        if (firstPass && !options.reopen()) {
            // qcow2_read_extensions: after the crypto header qemu writes before the bitmaps extension
            Qcow2OpenHeader.warnAboutStaleBitmaps(header, options.diagnostics());
        }
        Storage dataFile = io && header.hasDataFile() ? openDataFile(header.dataFileName(), options) : null;
        try {
            if (io && header.cryptMethod() == 2) {
                throw StrataException.invalid("Missing CRYPTO header for crypt method 2");
            }
            if (io && header.cryptMethod() == 1) {
                throw keyRequired();
            }
            Qcow2SnapshotTable snapshots = Qcow2SnapshotTable.parse(file, header.snapshotsOffset(),
                    header.nbSnapshots());
            if (!options.readOnly() && !options.reopen()) {
                header = Qcow2OpenHeader.updateOnWritableOpen(file, header, false);
            }
            Qcow2BitmapDirectory bitmaps = Qcow2BitmapDirectory.parse(file, header);
            bitmaps.checkTables(file, header.clusterSize(), header.virtualSize());
            if (!(firstPass && header.dirty() && !options.readOnly() && io)) {
                return new Qcow2Driver(file, header, l1, luks, dataFile, snapshots, bitmaps, options);
            }
            repairDirty(file, options);
        } catch (RuntimeException e) {
            if (dataFile != null) {
                dataFile.close();
            }
            throw e;
        }
        if (dataFile != null) {
            dataFile.close();
        }
        return open(file, options, false); // metadata changed: read it again
    }

    /** The external data file, opened and locked as qemu opens a qcow2 image's data-file child. */
    private static Storage openDataFile(String name, OpenOptions options) {
        Storage dataFile = FileStorage.open(name, options.readOnly());
        try {
            dataFile.lock(LockRequest.dataFile(options.readOnly(), options.forceShare()));
            return dataFile;
        } catch (RuntimeException e) {
            dataFile.close();
            throw e;
        }
    }

    /**
     * qemu's qcow2_do_open for a dirty image opened read-write: the check with BDRV_FIX_ERRORS |
     * BDRV_FIX_LEAKS; the open fails when the check fails or leaves check errors. The image keeps
     * its dirty bit when corruptions remain (qemu clears it when it closes the image). What the
     * check prints (qemu prints it on stderr while it opens) goes to the options' diagnostics.
     */
    private static void repairDirty(Storage file, OpenOptions options) {
        CheckOutcome outcome = Qcow2Repair.repairOnOpen(file, options.diagnostics());
        if (outcome instanceof CheckOutcome.Aborted a) {
            throw new StrataException(a.kind(), "Could not repair dirty image: " + a.reason());
        }
        if (outcome instanceof CheckOutcome.Completed c && c.report().checkErrors() > 0) {
            throw new StrataException(ErrorKind.EIO, "Could not repair dirty image: Input/output error");
        }
    }

    /** qemu's crypto layer without a key secret (it names the option with the "encrypt." prefix). */
    private static StrataException keyRequired() {
        return StrataException.invalid("Parameter 'encrypt.key-secret' is required for cipher");
    }

    /** The parsed header. */
    public Qcow2Header header() {
        return header;
    }

    /** The active L1 table. */
    public Qcow2L1Table l1Table() {
        return l1;
    }

    /**
     * qemu's qcow2_snapshot_load_tmp: from now on guest offsets map through the L1 table of the
     * snapshot whose id is {@code id} and whose name is {@code name} (a null one matches any; the
     * first match counts). The virtual size stays the image's, as in qemu; unallocated ranges
     * still read from the backing file. Only for read-only opens.
     *
     * @throws StrataException ENOENT "Can't find snapshot"; EFBIG "Snapshot L1 table too large"
     *         or EINVAL "Snapshot L1 table offset invalid" for an unusable table
     * @throws IllegalStateException when the layer was opened for writing
     */
    public void loadSnapshot(String id, String name) {
        if (writer != null) {
            throw new IllegalStateException("a writable layer cannot load a snapshot");
        }
        for (Qcow2SnapshotTable.Entry e : snapshots.entries()) {
            if ((id == null || id.equals(e.id())) && (name == null || name.equals(e.name()))) {
                Qcow2Header.validateTable(header.clusterSize(), e.l1TableOffset(), e.l1Size(), 8,
                        Qcow2Header.MAX_L1_BYTES, "Snapshot L1 table");
                mapper.l1(Qcow2L1Table.parse(file, e.l1TableOffset(), e.l1Size()));
                return;
            }
        }
        throw new StrataException(ErrorKind.ENOENT, "Can't find snapshot");
    }

    /** The internal snapshot table. */
    public Qcow2SnapshotTable snapshotTable() {
        return snapshots;
    }

    /**
     * The persistent dirty bitmaps as qemu's block layer holds them while the image is open:
     * loaded (and marked in_use on disk) at a read-write open, loaded read-only on the first call
     * otherwise; stored back when a read-write image is closed.
     *
     * @throws StrataException when a bitmap cannot be read (qemu's load_bitmap messages)
     */
    public Qcow2Bitmaps persistentBitmaps() {
        Qcow2Bitmaps b = persistentBitmaps;
        if (b == null) {
            synchronized (this) {
                b = persistentBitmaps;
                if (b == null) {
                    b = Qcow2Bitmaps.load(file, header, bitmaps, false, () -> { }, () -> { });
                    persistentBitmaps = b;
                }
            }
        }
        return b;
    }

    /** The persistent bitmap directory (empty when there are no consistent bitmaps). */
    public Qcow2BitmapDirectory bitmapDirectory() {
        return bitmaps;
    }

    @Override
    public String formatName() {
        return Qcow2Format.NAME;
    }

    @Override
    public long virtualSize() {
        return virtualSize;
    }

    @Override
    public Storage file() {
        return file;
    }

    @Override
    public List<Storage> storages() {
        return dataFile == null ? List.of(file) : List.of(file, dataFile);
    }

    @Override
    public Mapping map(long guestOffset, long maxLength) {
        if (guestOffset >= virtualSize) {
            return new Mapping.Eof();
        }
        // qemu probes for metadata preallocation at the first block status request (reads come
        // after it in every qemu-img verb); a corrupt refcount block is signalled then.
        boolean preallocated = metadataPreallocated();
        if (header.hasDataFile() && dataFile == null) {
            throw StrataException.invalid("Cannot map '" + file.name() + "': it was opened for metadata only,"
                    + " without its data file '" + header.dataFileName() + "'");
        }
        long length = Math.min(maxLength, virtualSize - guestOffset);
        Qcow2ClusterMapper.Run run = mapper.lookup(guestOffset, length);
        long len = run.length();
        Storage data = dataFile != null ? dataFile : file;
        switch (run.type()) {
            case NORMAL:
                if (encrypted) {
                    return new Mapping.Coded(len, false, this::readEncrypted);
                }
                return new Mapping.Raw(data, run.hostOffset(), len,
                        preallocated ? Mapping.HostHoles.MARK_ZERO : Mapping.HostHoles.IGNORE);
            case COMPRESSED: {
                Qcow2L2Entry entry = run.entry();
                int inCluster = (int) (guestOffset & (header.clusterSize() - 1));
                return new Mapping.Coded(len, true, (dst, skip) -> readCompressed(entry, inCluster + skip, dst));
            }
            case ZERO_PLAIN:
                return Mapping.Zero.plain(len);
            case ZERO_ALLOC:
                return encrypted ? Mapping.Zero.plain(len) : new Mapping.Zero(len, data, run.hostOffset());
            case UNALLOCATED_PLAIN:
                return new Mapping.Unallocated(len);
            case UNALLOCATED_ALLOC:
                return encrypted ? new Mapping.Unallocated(len) : new Mapping.Unallocated(len, data, run.hostOffset());
            default:
                throw StrataException.io("unexpected cluster type " + run.type());
        }
    }

    private void readEncrypted(ByteBuffer dst, long skip) {
        String format = header.cryptMethod() == 1 ? "aes" : "luks";
        throw new StrataException(ErrorKind.ENOTSUP, "Cannot read encrypted data of '" + file.name()
                + "': decrypting qcow2 images (encrypt.format=" + format + ") is not supported");
    }

    private void readCompressed(Qcow2L2Entry entry, long from, ByteBuffer dst) {
        byte[] cluster = decode(entry);
        dst.put(cluster, (int) from, dst.remaining());
    }

    /** The guest bytes of a compressed cluster, from a small direct-mapped cache or decoded now. */
    private byte[] decode(Qcow2L2Entry entry) {
        long descriptor = entry.entry() & ~Qcow2L2Entry.OFLAG_COPIED;
        int slot = (int) ((descriptor ^ (descriptor >>> 17) ^ (descriptor >>> 31)) & (DECODED_SLOTS - 1));
        Decoded d = decoded.get(slot);
        if (d != null && d.descriptor() == descriptor) {
            return d.data();
        }
        int clusterBits = header.clusterBits();
        long hostOffset = entry.compressedHostOffset(clusterBits);
        int size = (int) entry.compressedSize(clusterBits);
        byte[] src = HostReads.bytes(file, hostOffset, size);
        byte[] out = new byte[header.clusterSize()];
        try {
            Qcow2Compression.decompress(header.compressionType(), src, out);
        } catch (StrataException e) {
            throw new StrataException(ErrorKind.EIO, "Could not decompress the compressed cluster at host offset "
                    + Qcow2ClusterMapper.hex(hostOffset) + " of '" + file.name() + "': Input/output error", e);
        }
        decoded.set(slot, new Decoded(descriptor, out));
        return out;
    }

    /**
     * Whether qemu would see this image as metadata-preallocated (checked once, at the first
     * mapping, as qemu checks at the first block status).
     */
    private boolean metadataPreallocated() {
        Boolean v = metadataPreallocated;
        if (v == null) {
            synchronized (this) {
                v = metadataPreallocated;
                if (v == null) {
                    v = Qcow2Refcounts.detectMetadataPreallocation(file, header, corruption);
                    metadataPreallocated = v;
                }
            }
        }
        return v;
    }

    @Override
    public boolean supportsBacking() {
        return true;
    }

    @Override
    public Optional<BackingReference> backing() {
        if (header.backingFileName() == null) {
            return Optional.empty();
        }
        return Optional.of(new BackingReference(header.backingFileName(), header.backingFormat()));
    }

    @Override
    public long clusterSize() {
        return header.clusterSize();
    }

    @Override
    public LayerDescription describe() {
        List<SnapshotInfo> list = new ArrayList<>();
        for (Qcow2SnapshotTable.Entry e : snapshots.entries()) {
            list.add(new SnapshotInfo(e.id(), e.name(), e.vmStateSize(), e.dateSec(), e.dateNsec(), e.vmClockNsec(),
                    e.icount()));
        }
        return new LayerDescription(header.clusterSize(), encrypted, header.dirty(), list,
                Qcow2InfoSpecific.build(header, bitmaps, luks));
    }

    /**
     * Flushes the writer and closes the external data file, leaving the image file open (for
     * {@link Qcow2Creator}, whose caller owns the file).
     */
    void closeKeepingImageFile() {
        try {
            if (writer != null) {
                writer.flush();
                persistentBitmaps.storeAll();
            }
        } finally {
            if (dataFile != null) {
                dataFile.close();
            }
        }
    }

    @Override
    public void close() {
        try {
            if (writer != null) {
                writer.flush();
                persistentBitmaps.storeAll();
            }
        } finally {
            closeFiles();
        }
    }

    private void closeFiles() {
        try {
            file.close();
        } finally {
            if (dataFile != null) {
                dataFile.close();
            }
        }
    }
}
