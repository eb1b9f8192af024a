package dev.strata.engine.format.qcow2;

/*
 * Design note: the header fields qemu keeps in memory while an image is open (BDRVQcow2State)
 * and qemu 7.2's qcow2_update_header, which rewrites the whole first cluster from them: the
 * fixed header (72 bytes for v2; 112 for v3, header_length counting preserved unknown header
 * fields), then the extensions in qemu's order (backing format, external data file name, crypto
 * header pointer, feature name table for v3 with clusters over 4 KiB, bitmaps when there are
 * any, every unknown extension as read), the end marker, and the backing file name. The
 * feature name table is not kept from the file: qemu always writes its own.
 *
 * Loading follows qcow2_do_open: unknown autoclear bits are dropped (a writable open clears
 * them), the compression type is zlib when the header is too short to hold it, and the bitmaps
 * extension only counts when the bitmaps autoclear bit says it is consistent.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Mutable header state of a qcow2 image being amended, written back as qemu writes it. */
final class Qcow2HeaderRewrite {
    /** qemu's feature name table: {type, bit, name}. */
    private static final Object[][] FEATURES = {
        {Qcow2FeatureBits.TYPE_INCOMPATIBLE, 0, "dirty bit"},
        {Qcow2FeatureBits.TYPE_INCOMPATIBLE, 1, "corrupt bit"},
        {Qcow2FeatureBits.TYPE_INCOMPATIBLE, 2, "external data file"},
        {Qcow2FeatureBits.TYPE_INCOMPATIBLE, 3, "compression type"},
        {Qcow2FeatureBits.TYPE_INCOMPATIBLE, 4, "extended L2 entries"},
        {Qcow2FeatureBits.TYPE_COMPATIBLE, 0, "lazy refcounts"},
        {Qcow2FeatureBits.TYPE_AUTOCLEAR, 0, "bitmaps"},
        {Qcow2FeatureBits.TYPE_AUTOCLEAR, 1, "raw external data"},
    };
    private static final int V2_HEADER = 72;

    int version;
    final int clusterBits;
    long size;
    final long cryptMethod;
    long l1Size;
    long l1TableOffset;
    long refcountTableOffset;
    long refcountTableClusters;
    long nbSnapshots;
    long snapshotsOffset;
    long incompatible;
    long compatible;
    long autoclear;
    long refcountOrder;
    int compressionType;
    final byte[] unknownHeaderFields;
    String backingFormat;
    String dataFile;
    final Qcow2HeaderExtension.CryptoHeader cryptoHeader;
    Qcow2HeaderExtension.BitmapsExtension bitmaps;
    final List<Qcow2HeaderExtension> unknownExtensions;
    String backingFile;

    private Qcow2HeaderRewrite(Qcow2Header h, byte[] unknownHeaderFields) {
        this.version = h.version();
        this.clusterBits = h.clusterBits();
        this.size = h.virtualSize();
        this.cryptMethod = h.cryptMethod();
        this.l1Size = h.l1Size();
        this.l1TableOffset = h.l1TableOffset();
        this.refcountTableOffset = h.refcountTableOffset();
        this.refcountTableClusters = h.refcountTableClusters();
        this.nbSnapshots = h.nbSnapshots();
        this.snapshotsOffset = h.snapshotsOffset();
        this.incompatible = h.incompatibleFeatures();
        this.compatible = h.compatibleFeatures();
        this.autoclear = h.autoclearFeatures() & Qcow2FeatureBits.AUTOCLEAR_MASK;
        this.refcountOrder = h.refcountOrder();
        this.compressionType = h.compressionType();
        this.unknownHeaderFields = unknownHeaderFields;
        this.backingFormat = h.backingFormat();
        this.dataFile = h.dataFileName();
        this.cryptoHeader = h.cryptoHeader();
        Qcow2HeaderExtension.BitmapsExtension b = h.bitmapsExtension();
        this.bitmaps = b != null && h.bitmapsConsistent() ? b : null;
        List<Qcow2HeaderExtension> unknown = new ArrayList<>();
        for (Qcow2HeaderExtension e : h.extensions()) {
            switch (e.type()) {
                case Qcow2HeaderExtension.BACKING_FORMAT:
                case Qcow2HeaderExtension.FEATURE_TABLE:
                case Qcow2HeaderExtension.CRYPTO_HEADER:
                case Qcow2HeaderExtension.BITMAPS:
                case Qcow2HeaderExtension.DATA_FILE:
                    break;
                default:
                    unknown.add(e);
            }
        }
        this.unknownExtensions = List.copyOf(unknown);
        this.backingFile = h.backingFileName();
    }

    /** The state of the image in {@code file} as qemu holds it after a writable open. */
    static Qcow2HeaderRewrite load(Storage file) {
        Qcow2Header h = Qcow2Header.parse(file);
        byte[] unknownFields = new byte[0];
        if (h.version() >= 3 && h.headerLength() > Qcow2Header.STRUCT_SIZE) {
            unknownFields = HostReads.bytes(file, Qcow2Header.STRUCT_SIZE,
                    (int) (h.headerLength() - Qcow2Header.STRUCT_SIZE));
        }
        return new Qcow2HeaderRewrite(h, unknownFields);
    }

    int clusterSize() {
        return 1 << clusterBits;
    }

    /** Whether an external data file holds the guest data. */
    boolean hasDataFile() {
        return (incompatible & Qcow2FeatureBits.INCOMPAT_DATA_FILE) != 0;
    }

    /** qemu's qcow2_update_header: rewrites the first cluster from this state. */
    void write(Storage file) {
        file.write(ByteBuffer.wrap(build()), 0);
    }

    /** The first cluster as qcow2_update_header lays it out. */
    byte[] build() {
        int cs = clusterSize();
        ByteBuffer h = ByteBuffer.allocate(cs);
        h.putInt(0, Qcow2Header.MAGIC);
        h.putInt(4, version);
        h.putInt(20, clusterBits);
        h.putLong(24, size);
        h.putInt(32, (int) cryptMethod);
        h.putInt(36, (int) l1Size);
        h.putLong(40, l1TableOffset);
        h.putLong(48, refcountTableOffset);
        h.putInt(56, (int) refcountTableClusters);
        h.putInt(60, (int) nbSnapshots);
        h.putLong(64, snapshotsOffset);
        int at;
        if (version == 2) {
            at = V2_HEADER;
        } else {
            h.putLong(72, incompatible);
            h.putLong(80, compatible);
            h.putLong(88, autoclear);
            h.putInt(96, (int) refcountOrder);
            h.putInt(100, Qcow2Header.STRUCT_SIZE + unknownHeaderFields.length);
            h.put(104, (byte) compressionType);
            at = Qcow2Header.STRUCT_SIZE;
        }
        at = put(h, at, unknownHeaderFields);
        if (backingFormat != null) {
            at = extension(h, at, Qcow2HeaderExtension.BACKING_FORMAT, ascii(backingFormat));
        }
        if (hasDataFile() && dataFile != null) {
            at = extension(h, at, Qcow2HeaderExtension.DATA_FILE, ascii(dataFile));
        }
        if (cryptoHeader != null && cryptoHeader.offset() != 0) {
            byte[] c = ByteBuffer.allocate(16).putLong(cryptoHeader.offset()).putLong(cryptoHeader.length()).array();
            at = extension(h, at, Qcow2HeaderExtension.CRYPTO_HEADER, c);
        }
        if (version >= 3 && cs > 4096) {
            at = extension(h, at, Qcow2HeaderExtension.FEATURE_TABLE, featureTable());
        }
        if (bitmaps != null && bitmaps.nbBitmaps() > 0) {
            byte[] b = ByteBuffer.allocate(24).putInt((int) bitmaps.nbBitmaps()).putInt(0)
                    .putLong(bitmaps.directorySize()).putLong(bitmaps.directoryOffset()).array();
            at = extension(h, at, Qcow2HeaderExtension.BITMAPS, b);
        }
        for (Qcow2HeaderExtension e : unknownExtensions) {
            at = extension(h, at, e.type(), e.data());
        }
        at = extension(h, at, Qcow2HeaderExtension.END, new byte[0]);
        if (backingFile != null) {
            byte[] name = backingFile.getBytes(StandardCharsets.UTF_8);
            if (cs - at < name.length) {
                throw new StrataException(ErrorKind.ENOSPC, "Failed to update the image header: No space left on device");
            }
            h.putLong(8, at);
            h.putInt(16, name.length);
            h.put(at, name);
        }
        return h.array();
    }

    /** The feature name table qemu writes into v3 headers. */
    static byte[] featureTable() {
        byte[] table = new byte[FEATURES.length * Qcow2HeaderExtension.FEATURE_ENTRY_SIZE];
        for (int i = 0; i < FEATURES.length; i++) {
            int base = i * Qcow2HeaderExtension.FEATURE_ENTRY_SIZE;
            table[base] = (byte) (int) (Integer) FEATURES[i][0];
            table[base + 1] = (byte) (int) (Integer) FEATURES[i][1];
            byte[] name = ascii((String) FEATURES[i][2]);
            System.arraycopy(name, 0, table, base + 2, name.length);
        }
        return table;
    }

    private static int put(ByteBuffer h, int at, byte[] data) {
        if (h.capacity() - at < data.length) {
            throw new StrataException(ErrorKind.ENOSPC, "Failed to update the image header: No space left on device");
        }
        h.put(at, data);
        return at + data.length;
    }

    /** header_ext_add: type, length, data padded to 8 bytes. */
    private static int extension(ByteBuffer h, int at, int type, byte[] data) {
        int padded = (data.length + 7) & ~7;
        if (h.capacity() - at < 8 + padded) {
            throw new StrataException(ErrorKind.ENOSPC, "Failed to update the image header: No space left on device");
        }
        h.putInt(at, type);
        h.putInt(at + 4, data.length);
        h.put(at + 8, data);
        return at + 8 + padded;
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
