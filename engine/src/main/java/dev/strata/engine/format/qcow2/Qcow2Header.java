package dev.strata.engine.format.qcow2;

/*
 * Design note: the fixed qcow2 header plus everything else stored in the first cluster (header
 * extensions and the backing file name), parsed and validated in the order qemu's
 * qcow2_do_open validates them, with qemu's messages, so that the first problem reported is
 * the one qemu-img reports. Validation never allocates in proportion to an unchecked field:
 * the only reads here are the 112-byte header and extension data bounded by the cluster size.
 * Tables the header points to (L1, refcount, snapshots, bitmaps) are only range-checked here;
 * their owners read them.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The qcow2 header (versions 2 and 3) with its parsed extensions. All unsigned 32-bit fields are
 * widened to {@code long}; 64-bit offsets are kept as stored (they are validated to be below
 * 2^63 where qemu validates them).
 *
 * @param version                qcow2 version (2 or 3)
 * @param backingFileOffset      offset of the backing file name, 0 for none
 * @param backingFileSize        length of the backing file name
 * @param clusterBits            log2 of the cluster size (9..21)
 * @param size                   virtual disk size in bytes as stored (qemu uses it rounded down to
 *                               512, see {@link #virtualSize()})
 * @param cryptMethod            0 none, 1 AES, 2 LUKS
 * @param l1Size                 number of entries of the active L1 table
 * @param l1TableOffset          offset of the active L1 table
 * @param refcountTableOffset    offset of the refcount table
 * @param refcountTableClusters  clusters taken by the refcount table
 * @param nbSnapshots            number of internal snapshots
 * @param snapshotsOffset        offset of the snapshot table
 * @param incompatibleFeatures   incompatible feature bits (0 for v2)
 * @param compatibleFeatures     compatible feature bits (0 for v2)
 * @param autoclearFeatures      autoclear feature bits (0 for v2)
 * @param refcountOrder          log2 of the refcount width in bits (4 for v2)
 * @param headerLength           header length in bytes (72 for v2)
 * @param compressionType        0 zlib, 1 zstd
 * @param backingFileName        the backing file name as stored, or null when there is none
 * @param extensions             the header extensions in stored order (without the end marker)
 */
public record Qcow2Header(int version, long backingFileOffset, long backingFileSize, int clusterBits, long size,
                          long cryptMethod, long l1Size, long l1TableOffset, long refcountTableOffset,
                          long refcountTableClusters, long nbSnapshots, long snapshotsOffset,
                          long incompatibleFeatures, long compatibleFeatures, long autoclearFeatures,
                          long refcountOrder, long headerLength, int compressionType, String backingFileName,
                          List<Qcow2HeaderExtension> extensions) {

    /** "QFI\xfb". */
    public static final int MAGIC = 0x514649fb;
    /** Size of the fixed header structure qemu reads (v3 with compression type and padding). */
    public static final int STRUCT_SIZE = 112;
    /** Smallest supported cluster_bits (512-byte clusters). */
    public static final int MIN_CLUSTER_BITS = 9;
    /** Largest supported cluster_bits (2 MiB clusters). */
    public static final int MAX_CLUSTER_BITS = 21;
    /** qemu's limit on the active L1 table size in bytes. */
    public static final long MAX_L1_BYTES = 32L * 1024 * 1024;
    /** qemu's limit on the refcount table size in bytes. */
    public static final long MAX_REFTABLE_BYTES = 8L * 1024 * 1024;
    /** qemu's limit on the number of internal snapshots. */
    public static final long MAX_SNAPSHOTS = 65536;
    /** Size of the fixed part of a snapshot table entry. */
    public static final int SNAPSHOT_HEADER_SIZE = 40;
    /** qemu's limit on the number of persistent bitmaps. */
    public static final long MAX_BITMAPS = 65535;
    /** qemu's limit on the bitmap directory size in bytes. */
    public static final long MAX_BITMAP_DIRECTORY_SIZE = 1024 * MAX_BITMAPS;
    /** Size of qemu's backing format buffer; a longer extension is refused. */
    static final int BACKING_FORMAT_BUFFER = 16;
    /** Number of subclusters per cluster with extended L2 entries. */
    public static final int SUBCLUSTERS_PER_CLUSTER = 32;

    public Qcow2Header {
        extensions = List.copyOf(extensions);
    }

    /**
     * Reads and validates the header of {@code file} as qemu opens an image normally.
     *
     * @throws StrataException with qemu's message (and errno class) for the first problem found
     */
    public static Qcow2Header parse(Storage file) {
        return parse(file, false);
    }

    /**
     * Reads and validates the header of {@code file}.
     *
     * @param checkMode validate as qemu does when opening for {@code qemu-img check}
     *                  (BDRV_O_CHECK): a missing refcount table and a bad snapshot table pointer
     *                  are then accepted, to be reported by the checker
     * @throws StrataException with qemu's message (and errno class) for the first problem found
     */
    public static Qcow2Header parse(Storage file, boolean checkMode) {
        ByteBuffer h = HostReads.read(file, 0, STRUCT_SIZE);
        if (h.getInt(0) != MAGIC) {
            throw new StrataException(ErrorKind.EINVAL, "Image is not in qcow2 format");
        }
        long version = HostReads.u32(h, 4);
        if (version < 2 || version > 3) {
            throw new StrataException(ErrorKind.ENOTSUP, "Unsupported qcow2 version " + version);
        }
        long clusterBits = HostReads.u32(h, 20);
        if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
            throw new StrataException(ErrorKind.EINVAL, "Unsupported cluster size: 2^" + clusterBits);
        }
        long clusterSize = 1L << clusterBits;
        long incompatible = 0;
        long compatible = 0;
        long autoclear = 0;
        long refcountOrder = 4;
        long headerLength = 72;
        if (version == 3) {
            incompatible = h.getLong(72);
            compatible = h.getLong(80);
            autoclear = h.getLong(88);
            refcountOrder = HostReads.u32(h, 96);
            headerLength = HostReads.u32(h, 100);
            if (headerLength < 104) {
                throw StrataException.invalid("qcow2 header too short");
            }
        }
        if (headerLength > clusterSize) {
            throw StrataException.invalid("qcow2 header exceeds cluster size");
        }
        long backingFileOffset = h.getLong(8);
        if (Long.compareUnsigned(backingFileOffset, clusterSize) > 0) {
            throw StrataException.invalid("Invalid backing file offset");
        }
        long extEnd = backingFileOffset != 0 ? backingFileOffset : clusterSize;

        int compressionType = headerLength > 104 ? HostReads.u8(h, 104) : 0;
        validateCompressionType(compressionType, incompatible);

        if ((incompatible & ~Qcow2FeatureBits.INCOMPAT_MASK) != 0) {
            List<Qcow2HeaderExtension> exts = readExtensionsLeniently(file, headerLength, extEnd);
            throw new StrataException(ErrorKind.ENOTSUP,
                    unsupportedFeatureMessage(exts, incompatible & ~Qcow2FeatureBits.INCOMPAT_MASK));
        }

        boolean extendedL2 = (incompatible & Qcow2FeatureBits.INCOMPAT_EXTL2) != 0;
        long subclusterSize = extendedL2 ? clusterSize / SUBCLUSTERS_PER_CLUSTER : clusterSize;
        if (subclusterSize < (1 << MIN_CLUSTER_BITS)) {
            throw StrataException.invalid("Unsupported subcluster size: " + subclusterSize);
        }
        if (refcountOrder > 6) {
            throw StrataException.invalid("Reference count entry width too large; may not exceed 64 bits");
        }

        long refcountTableOffset = h.getLong(48);
        long refcountTableClusters = HostReads.u32(h, 56);
        if (refcountTableClusters == 0 && !checkMode) {
            throw StrataException.invalid("Image does not contain a reference count table");
        }
        validateTable(clusterSize, refcountTableOffset, refcountTableClusters, clusterSize, MAX_REFTABLE_BYTES,
                "Reference count table");
        long nbSnapshots = HostReads.u32(h, 60);
        long snapshotsOffset = h.getLong(64);
        if (!checkMode) {
            validateTable(clusterSize, snapshotsOffset, nbSnapshots, SNAPSHOT_HEADER_SIZE,
                    SNAPSHOT_HEADER_SIZE * MAX_SNAPSHOTS, "Snapshot table");
        }
        long l1Size = HostReads.u32(h, 36);
        long l1TableOffset = h.getLong(40);
        validateTable(clusterSize, l1TableOffset, l1Size, 8, MAX_L1_BYTES, "Active L1 table");
        long size = h.getLong(24);
        int l2Bits = (int) clusterBits - (extendedL2 ? 4 : 3);
        long l1Needed = ceilShiftUnsigned(size, (int) clusterBits + l2Bits);
        if (l1Needed > Integer.MAX_VALUE) {
            throw new StrataException(ErrorKind.EFBIG, "Image is too big");
        }
        if (l1Size < l1Needed) {
            throw StrataException.invalid("L1 table is too small");
        }
        long cryptMethod = HostReads.u32(h, 32);
        if (cryptMethod > 2) {
            throw StrataException.invalid("Unsupported encryption method " + (int) cryptMethod);
        }

        List<Qcow2HeaderExtension> extensions = readExtensions(file, headerLength, extEnd, clusterSize,
                cryptMethod, autoclear);
        checkDataFile(extensions, incompatible, autoclear);

        String backingFileName = null;
        long backingFileSize = HostReads.u32(h, 16);
        if (backingFileOffset != 0) {
            if (backingFileSize > Math.min(1023, clusterSize - backingFileOffset)) {
                throw StrataException.invalid("Backing file name too long");
            }
            backingFileName = HostReads.cString(HostReads.bytes(file, backingFileOffset, (int) backingFileSize),
                    0, (int) backingFileSize);
        }
        return new Qcow2Header((int) version, backingFileOffset, backingFileSize, (int) clusterBits, size,
                cryptMethod, l1Size, l1TableOffset, refcountTableOffset, refcountTableClusters, nbSnapshots,
                snapshotsOffset, incompatible, compatible, autoclear, refcountOrder, headerLength,
                compressionType, backingFileName, extensions);
    }

    private static void validateCompressionType(int type, long incompatible) {
        if (type != Qcow2Compression.TYPE_ZLIB && type != Qcow2Compression.TYPE_ZSTD) {
            throw new StrataException(ErrorKind.ENOTSUP, "qcow2: unknown compression type: " + type);
        }
        boolean bit = (incompatible & Qcow2FeatureBits.INCOMPAT_COMPRESSION) != 0;
        if (type == Qcow2Compression.TYPE_ZLIB && bit) {
            throw StrataException.invalid("qcow2: Compression type incompatible feature bit must not be set");
        }
        if (type != Qcow2Compression.TYPE_ZLIB && !bit) {
            throw StrataException.invalid("qcow2: Compression type incompatible feature bit must be set");
        }
    }

    /**
     * qemu's qcow2_validate_table: at most {@code maxBytes / entryLength} entries, and an offset
     * that is cluster aligned and leaves room for the table below 2^63.
     */
    static void validateTable(long clusterSize, long offset, long entries, long entryLength, long maxBytes,
                              String name) {
        if (Long.compareUnsigned(entries, maxBytes / entryLength) > 0) {
            throw new StrataException(ErrorKind.EFBIG, name + " too large");
        }
        if (Long.compareUnsigned(Long.MAX_VALUE - entries * entryLength, offset) < 0
                || (offset & (clusterSize - 1)) != 0) {
            throw StrataException.invalid(name + " offset invalid");
        }
    }

    /** ceil(value / 2^shift) for an unsigned 64-bit value. */
    private static long ceilShiftUnsigned(long value, int shift) {
        long q = value >>> shift;
        return (value & ((1L << shift) - 1)) != 0 ? q + 1 : q;
    }

    /** Reads the extension area, stopping quietly at the first malformed entry. */
    private static List<Qcow2HeaderExtension> readExtensionsLeniently(Storage file, long start, long end) {
        List<Qcow2HeaderExtension> out = new ArrayList<>();
        long offset = start;
        while (offset < end) {
            ByteBuffer e = HostReads.read(file, offset, 8);
            int type = e.getInt(0);
            long len = HostReads.u32(e, 4);
            offset += 8;
            if (offset > end || len > end - offset || type == Qcow2HeaderExtension.END) {
                break;
            }
            out.add(new Qcow2HeaderExtension(type, offset, HostReads.bytes(file, offset, (int) len)));
            offset += (len + 7) & ~7L;
        }
        return out;
    }

    /** qemu's report_unsupported_feature wording. */
    private static String unsupportedFeatureMessage(List<Qcow2HeaderExtension> exts, long mask) {
        List<Qcow2HeaderExtension.FeatureName> table = List.of();
        for (Qcow2HeaderExtension e : exts) {
            if (e.type() == Qcow2HeaderExtension.FEATURE_TABLE) {
                table = e.featureNames(); // the last table wins, as in qemu
            }
        }
        StringBuilder sb = new StringBuilder();
        long remaining = mask;
        for (Qcow2HeaderExtension.FeatureName f : table) {
            if (f.type() == Qcow2FeatureBits.TYPE_INCOMPATIBLE && f.bit() < 64
                    && (remaining & (1L << f.bit())) != 0) {
                if (sb.length() > 0) {
                    sb.append(", ");
                }
                sb.append(f.name().length() > 46 ? f.name().substring(0, 46) : f.name());
                remaining &= ~(1L << f.bit());
            }
        }
        if (remaining != 0) {
            if (sb.length() > 0) {
                sb.append(", ");
            }
            sb.append("Unknown incompatible feature: ").append(Long.toHexString(remaining));
        }
        return "Unsupported qcow2 feature(s): " + sb;
    }

    /** qemu's qcow2_read_extensions with its checks and messages. */
    private static List<Qcow2HeaderExtension> readExtensions(Storage file, long start, long end, long clusterSize,
                                                             long cryptMethod, long autoclear) {
        List<Qcow2HeaderExtension> out = new ArrayList<>();
        long offset = start;
        while (offset < end) {
            ByteBuffer e = HostReads.read(file, offset, 8);
            int type = e.getInt(0);
            long len = HostReads.u32(e, 4);
            offset += 8;
            if (offset > end || len > end - offset) {
                throw StrataException.invalid("Header extension too large");
            }
            if (type == Qcow2HeaderExtension.END) {
                break;
            }
            Qcow2HeaderExtension ext = new Qcow2HeaderExtension(type, offset, HostReads.bytes(file, offset, (int) len));
            checkExtension(ext, clusterSize, cryptMethod, autoclear);
            out.add(ext);
            offset += (len + 7) & ~7L;
        }
        return out;
    }

    private static void checkExtension(Qcow2HeaderExtension ext, long clusterSize, long cryptMethod,
                                       long autoclear) {
        int len = ext.data().length;
        switch (ext.type()) {
            case Qcow2HeaderExtension.BACKING_FORMAT:
                if (len >= BACKING_FORMAT_BUFFER) {
                    throw StrataException.invalid("ERROR: ext_backing_format: len=" + len + " too large (>="
                            + BACKING_FORMAT_BUFFER + ")");
                }
                break;
            case Qcow2HeaderExtension.CRYPTO_HEADER: {
                if (cryptMethod != 2) {
                    throw StrataException.invalid(
                            "CRYPTO header extension only expected with LUKS encryption method");
                }
                if (len != 16) {
                    throw StrataException.invalid("CRYPTO header extension size " + len
                            + ", but expected size 16");
                }
                long off = ext.asCryptoHeader().offset();
                if (Long.remainderUnsigned(off, clusterSize) != 0) {
                    throw StrataException.invalid("Encryption header offset '" + Long.toUnsignedString(off)
                            + "' is not a multiple of cluster size '" + clusterSize + "'");
                }
                break;
            }
            case Qcow2HeaderExtension.BITMAPS: {
                if (len != 24) {
                    throw StrataException.invalid("bitmaps_ext: Invalid extension length");
                }
                if ((autoclear & Qcow2FeatureBits.AUTOCLEAR_BITMAPS) == 0) {
                    break; // qemu warns and ignores the bitmaps
                }
                Qcow2HeaderExtension.BitmapsExtension b = ext.asBitmaps();
                if (b.reserved() != 0) {
                    throw StrataException.invalid("bitmaps_ext: Reserved field is not zero");
                }
                if (b.nbBitmaps() > MAX_BITMAPS) {
                    throw StrataException.invalid("bitmaps_ext: Image has " + b.nbBitmaps()
                            + " bitmaps, exceeding the QEMU supported maximum of " + MAX_BITMAPS);
                }
                if (b.nbBitmaps() == 0) {
                    throw StrataException.invalid("found bitmaps extension with zero bitmaps");
                }
                if ((b.directoryOffset() & (clusterSize - 1)) != 0) {
                    throw StrataException.invalid("bitmaps_ext: invalid bitmap directory offset");
                }
                if (Long.compareUnsigned(b.directorySize(), MAX_BITMAP_DIRECTORY_SIZE) > 0) {
                    throw StrataException.invalid("bitmaps_ext: bitmap directory size ("
                            + Long.toUnsignedString(b.directorySize())
                            + ") exceeds the maximum supported size (" + MAX_BITMAP_DIRECTORY_SIZE + ")");
                }
                break;
            }
            default:
                break;
        }
    }

    private static void checkDataFile(List<Qcow2HeaderExtension> exts, long incompatible, long autoclear) {
        boolean hasName = false;
        for (Qcow2HeaderExtension e : exts) {
            hasName |= e.type() == Qcow2HeaderExtension.DATA_FILE;
        }
        if ((incompatible & Qcow2FeatureBits.INCOMPAT_DATA_FILE) != 0) {
            if (!hasName) {
                throw StrataException.invalid("'data-file' is required for this image");
            }
        } else if ((autoclear & Qcow2FeatureBits.AUTOCLEAR_DATA_FILE_RAW) != 0) {
            throw StrataException.invalid("data-file-raw requires a data file");
        }
    }

    // ---- derived values -------------------------------------------------------------------

    /** Cluster size in bytes. */
    public int clusterSize() {
        return 1 << clusterBits;
    }

    /** The virtual size qemu uses: the stored size rounded down to a multiple of 512. */
    public long virtualSize() {
        return size & ~511L;
    }

    /** Whether the image uses extended L2 entries (subclusters). */
    public boolean extendedL2() {
        return (incompatibleFeatures & Qcow2FeatureBits.INCOMPAT_EXTL2) != 0;
    }

    /** Size of one L2 entry in bytes: 8, or 16 with extended L2 entries. */
    public int l2EntrySize() {
        return extendedL2() ? 16 : 8;
    }

    /** Number of L2 entries in one L2 table (one cluster). */
    public int l2Entries() {
        return clusterSize() / l2EntrySize();
    }

    /** Size of a subcluster: the cluster size, or 1/32 of it with extended L2 entries. */
    public int subclusterSize() {
        return extendedL2() ? clusterSize() / SUBCLUSTERS_PER_CLUSTER : clusterSize();
    }

    /** Refcount width in bits. */
    public int refcountBits() {
        return 1 << refcountOrder;
    }

    /** Whether the dirty bit is set. */
    public boolean dirty() {
        return (incompatibleFeatures & Qcow2FeatureBits.INCOMPAT_DIRTY) != 0;
    }

    /** Whether the corrupt bit is set. */
    public boolean corrupt() {
        return (incompatibleFeatures & Qcow2FeatureBits.INCOMPAT_CORRUPT) != 0;
    }

    /** Whether the lazy refcounts compatible bit is set. */
    public boolean lazyRefcounts() {
        return (compatibleFeatures & Qcow2FeatureBits.COMPAT_LAZY_REFCOUNTS) != 0;
    }

    /** Whether guest data lives in an external data file. */
    public boolean hasDataFile() {
        return (incompatibleFeatures & Qcow2FeatureBits.INCOMPAT_DATA_FILE) != 0;
    }

    /** Whether the external data file is a consistent raw image (data_file_raw). */
    public boolean dataFileRaw() {
        return (autoclearFeatures & Qcow2FeatureBits.AUTOCLEAR_DATA_FILE_RAW) != 0;
    }

    /** Whether the bitmaps autoclear bit says the bitmaps extension is consistent. */
    public boolean bitmapsConsistent() {
        return (autoclearFeatures & Qcow2FeatureBits.AUTOCLEAR_BITMAPS) != 0;
    }

    /** The first extension of {@code type}, or null. */
    public Qcow2HeaderExtension extension(int type) {
        for (Qcow2HeaderExtension e : extensions) {
            if (e.type() == type) {
                return e;
            }
        }
        return null;
    }

    /** The last extension of {@code type} (qemu lets a later one override), or null. */
    private Qcow2HeaderExtension lastExtension(int type) {
        Qcow2HeaderExtension found = null;
        for (Qcow2HeaderExtension e : extensions) {
            if (e.type() == type) {
                found = e;
            }
        }
        return found;
    }

    /** The backing format from the backing format extension, or null. */
    public String backingFormat() {
        Qcow2HeaderExtension e = lastExtension(Qcow2HeaderExtension.BACKING_FORMAT);
        return e == null ? null : e.asString();
    }

    /** The entries of the feature name table, or an empty list. */
    public List<Qcow2HeaderExtension.FeatureName> featureNames() {
        Qcow2HeaderExtension e = lastExtension(Qcow2HeaderExtension.FEATURE_TABLE);
        return e == null ? List.of() : e.featureNames();
    }

    /**
     * The bitmaps extension as stored, or null when absent. Note that qemu ignores it (no
     * bitmaps) unless {@link #bitmapsConsistent()}.
     */
    public Qcow2HeaderExtension.BitmapsExtension bitmapsExtension() {
        Qcow2HeaderExtension e = lastExtension(Qcow2HeaderExtension.BITMAPS);
        return e == null ? null : e.asBitmaps();
    }

    /** The external data file name as stored, or null. */
    public String dataFileName() {
        Qcow2HeaderExtension e = lastExtension(Qcow2HeaderExtension.DATA_FILE);
        return e == null ? null : e.asString();
    }

    /** The full disk encryption header pointer, or null. */
    public Qcow2HeaderExtension.CryptoHeader cryptoHeader() {
        Qcow2HeaderExtension e = lastExtension(Qcow2HeaderExtension.CRYPTO_HEADER);
        return e == null ? null : e.asCryptoHeader();
    }
}
