package dev.strata.engine.format.qcow2;

/*
 * Design note: the three feature bitmasks of the qcow2 v3 header, as named constants, plus the
 * masks of the bits this implementation understands. Unknown incompatible bits refuse the
 * open (see Qcow2Header); unknown compatible bits are ignored; unknown autoclear bits would be
 * cleared by a writer (we only read, so we leave them).
 */

/** Bits of the incompatible, compatible and autoclear feature fields of a qcow2 header. */
public final class Qcow2FeatureBits {
    private Qcow2FeatureBits() {
    }

    /** Incompatible bit 0: refcounts may be inconsistent (lazy refcounts in use). */
    public static final long INCOMPAT_DIRTY = 1L;
    /** Incompatible bit 1: the image is known to be corrupt. */
    public static final long INCOMPAT_CORRUPT = 1L << 1;
    /** Incompatible bit 2: guest data lives in an external data file. */
    public static final long INCOMPAT_DATA_FILE = 1L << 2;
    /** Incompatible bit 3: compression_type field is present and non-zero. */
    public static final long INCOMPAT_COMPRESSION = 1L << 3;
    /** Incompatible bit 4: extended (128-bit) L2 entries with subclusters. */
    public static final long INCOMPAT_EXTL2 = 1L << 4;
    /** All incompatible bits this implementation understands. */
    public static final long INCOMPAT_MASK = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE
            | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

    /** Compatible bit 0: lazy refcounts. */
    public static final long COMPAT_LAZY_REFCOUNTS = 1L;

    /** Autoclear bit 0: the bitmaps extension is consistent. */
    public static final long AUTOCLEAR_BITMAPS = 1L;
    /** Autoclear bit 1: the external data file is a consistent raw image. */
    public static final long AUTOCLEAR_DATA_FILE_RAW = 1L << 1;
    /** All autoclear bits this implementation understands. */
    public static final long AUTOCLEAR_MASK = AUTOCLEAR_BITMAPS | AUTOCLEAR_DATA_FILE_RAW;

    /** Feature-name-table type of an incompatible feature. */
    public static final int TYPE_INCOMPATIBLE = 0;
    /** Feature-name-table type of a compatible feature. */
    public static final int TYPE_COMPATIBLE = 1;
    /** Feature-name-table type of an autoclear feature. */
    public static final int TYPE_AUTOCLEAR = 2;
}
