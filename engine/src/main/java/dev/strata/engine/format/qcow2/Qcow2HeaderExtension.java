package dev.strata.engine.format.qcow2;

/*
 * Design note: one header extension as stored after the fixed header (type, length, data,
 * padding to 8). The raw bytes are kept so that tools (check, amend) can see unknown
 * extensions; typed views (feature names, bitmaps, crypto header, strings) decode on demand.
 * The area is bounded by the first cluster (or the backing file name), so data is small.
 */

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * One qcow2 header extension.
 *
 * @param type       extension type magic (see the constants)
 * @param dataOffset host offset of the extension data (after the 8-byte type/length prefix)
 * @param data       the extension data, exactly as long as the stored length
 */
public record Qcow2HeaderExtension(int type, long dataOffset, byte[] data) {
    /** End of the header extension area. */
    public static final int END = 0;
    /** Backing file format name string. */
    public static final int BACKING_FORMAT = 0xe2792aca;
    /** Feature name table. */
    public static final int FEATURE_TABLE = 0x6803f857;
    /** Persistent bitmaps extension. */
    public static final int BITMAPS = 0x23852875;
    /** Full disk encryption (LUKS) header pointer. */
    public static final int CRYPTO_HEADER = 0x0537be77;
    /** External data file name string. */
    public static final int DATA_FILE = 0x44415441;

    /** Size of one feature name table entry. */
    static final int FEATURE_ENTRY_SIZE = 48;

    /** The data as a string (the string extensions are not NUL-terminated; a NUL ends it early). */
    public String asString() {
        return HostReads.cString(data, 0, data.length);
    }

    /**
     * The entries of a feature name table extension, in stored order, up to the first entry with
     * an empty name (qemu stops there too).
     */
    public List<FeatureName> featureNames() {
        List<FeatureName> out = new ArrayList<>();
        for (int off = 0; off + FEATURE_ENTRY_SIZE <= data.length; off += FEATURE_ENTRY_SIZE) {
            if (data[off + 2] == 0) {
                break;
            }
            out.add(new FeatureName(data[off] & 0xff, data[off + 1] & 0xff,
                    HostReads.cString(data, off + 2, FEATURE_ENTRY_SIZE - 2)));
        }
        return out;
    }

    /** The bitmaps extension fields (caller checked that the data is 24 bytes long). */
    public BitmapsExtension asBitmaps() {
        ByteBuffer b = ByteBuffer.wrap(data);
        return new BitmapsExtension(HostReads.u32(b, 0), HostReads.u32(b, 4), b.getLong(8), b.getLong(16));
    }

    /** The full disk encryption header pointer (caller checked that the data is 16 bytes long). */
    public CryptoHeader asCryptoHeader() {
        ByteBuffer b = ByteBuffer.wrap(data);
        return new CryptoHeader(b.getLong(0), b.getLong(8));
    }

    @Override
    public String toString() {
        return String.format("Qcow2HeaderExtension[type=0x%08x, dataOffset=%d, length=%d]", type, dataOffset,
                data.length);
    }

    /**
     * One entry of the feature name table.
     *
     * @param type 0 incompatible, 1 compatible, 2 autoclear (see {@link Qcow2FeatureBits})
     * @param bit  bit number within that feature field
     * @param name human-readable name
     */
    public record FeatureName(int type, int bit, String name) {
    }

    /**
     * The bitmaps extension.
     *
     * @param nbBitmaps       number of bitmaps in the directory
     * @param reserved        reserved word (must be zero)
     * @param directorySize   size of the bitmap directory in bytes
     * @param directoryOffset host offset of the bitmap directory
     */
    public record BitmapsExtension(long nbBitmaps, long reserved, long directorySize, long directoryOffset) {
    }

    /**
     * The full disk encryption header pointer.
     *
     * @param offset host offset of the LUKS header
     * @param length length of the LUKS header in bytes
     */
    public record CryptoHeader(long offset, long length) {
    }
}
