package dev.strata.engine.format.qcow2;

/*
 * Design note: the persistent dirty bitmap directory, parsed and checked like qemu's
 * bitmap_list_load / check_dir_entry, and the bitmap tables checked like qemu's load_bitmap,
 * which qemu runs for every consistent bitmap when it opens an image (so a broken table fails
 * the open, also for qemu-img info). The directory size is bounded by the header (64 MiB); bytes
 * past the end of the file read as zeros without being allocated. Bitmap tables are streamed in
 * chunks, never loaded whole.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The bitmap directory of a qcow2 image.
 *
 * @param entries the bitmaps in directory order
 */
public record Qcow2BitmapDirectory(List<Entry> entries) {
    /** Flag bit 0: the bitmap was not saved correctly and may be inconsistent. */
    public static final int FLAG_IN_USE = 1;
    /** Flag bit 1: the bitmap tracks all writes (enabled). */
    public static final int FLAG_AUTO = 1 << 1;
    /** Flag bit 2: unknown extra data may be kept. */
    public static final int FLAG_EXTRA_DATA_COMPATIBLE = 1 << 2;
    /** Flags qemu refuses (all but in_use and auto). */
    public static final int RESERVED_FLAGS = 0xfffffffc;
    /** Bitmap type 1: dirty tracking bitmap. */
    public static final int TYPE_DIRTY_TRACKING = 1;
    /** Size of the fixed part of a directory entry. */
    public static final int ENTRY_HEADER_SIZE = 24;
    /** qemu's limits on one entry. */
    public static final long MAX_TABLE_SIZE = 0x8000000L;
    public static final long MAX_PHYS_SIZE = 0x20000000L;
    public static final int MIN_GRANULARITY_BITS = 9;
    public static final int MAX_GRANULARITY_BITS = 31;
    public static final int MAX_NAME_SIZE = 1023;
    /** Reserved bits of a bitmap table entry. */
    public static final long TABLE_ENTRY_RESERVED_MASK = 0xff000000000001feL;
    /** Offset bits of a bitmap table entry. */
    public static final long TABLE_ENTRY_OFFSET_MASK = 0x00fffffffffffe00L;
    /** Bit 0 of a bitmap table entry without offset: the cluster reads as all ones. */
    public static final long TABLE_ENTRY_ALL_ONES = 1L;

    public Qcow2BitmapDirectory {
        entries = List.copyOf(entries);
    }

    /**
     * One bitmap directory entry.
     *
     * @param entryOffset       host offset of this directory entry
     * @param tableOffset       host offset of the bitmap table
     * @param tableSize         number of 64-bit entries in the bitmap table
     * @param flags             flag bits (in_use, auto, extra_data_compatible)
     * @param type              bitmap type (1: dirty tracking)
     * @param granularityBits   log2 of the bytes covered by one bit
     * @param name              bitmap name
     * @param extraDataSize     size of the type-specific extra data
     */
    public record Entry(long entryOffset, long tableOffset, long tableSize, int flags, int type, int granularityBits,
                        String name, long extraDataSize) {
        /** Bytes of guest disk covered by one bit. */
        public long granularity() {
            return 1L << granularityBits;
        }

        /** Whether the in_use flag is set. */
        public boolean inUse() {
            return (flags & FLAG_IN_USE) != 0;
        }

        /** Whether the auto flag is set. */
        public boolean auto() {
            return (flags & FLAG_AUTO) != 0;
        }

        /** qemu-img info's flag names, in qemu's order ("in-use", "auto"). */
        public List<String> flagNames() {
            List<String> names = new ArrayList<>();
            if (inUse()) {
                names.add("in-use");
            }
            if (auto()) {
                names.add("auto");
            }
            return names;
        }
    }

    /** An empty directory. */
    public static Qcow2BitmapDirectory empty() {
        return new Qcow2BitmapDirectory(List.of());
    }

    /**
     * The bitmaps of {@code header}'s image, as qemu sees them: none when the bitmaps extension is
     * absent or not marked consistent by its autoclear bit.
     *
     * @throws StrataException EINVAL with qemu's message for a broken directory
     */
    public static Qcow2BitmapDirectory parse(Storage file, Qcow2Header header) {
        Qcow2HeaderExtension.BitmapsExtension ext = header.bitmapsExtension();
        if (ext == null || !header.bitmapsConsistent()) {
            return empty();
        }
        return parse(file, ext.directoryOffset(), ext.directorySize(), ext.nbBitmaps(), header.clusterSize(),
                header.virtualSize());
    }

    /**
     * Reads and checks a bitmap directory (qemu's bitmap_list_load).
     *
     * @param expected    nb_bitmaps from the header extension
     * @param virtualSize the image's virtual size (bitmaps must cover it)
     */
    public static Qcow2BitmapDirectory parse(Storage file, long offset, long size, long expected, int clusterSize,
                                             long virtualSize) {
        if (size == 0) {
            throw StrataException.invalid("Requested bitmap directory size is zero");
        }
        if (Long.compareUnsigned(size, Qcow2Header.MAX_BITMAP_DIRECTORY_SIZE) > 0) {
            throw StrataException.invalid("Requested bitmap directory size is too big");
        }
        if (!HostReads.readable(offset, size)) {
            throw new StrataException(ErrorKind.EIO, "Failed to read bitmap directory: " + HostReads.EIO_TEXT);
        }
        long available = Math.max(0, Math.min(size, file.size() - offset));
        ByteBuffer dir = HostReads.read(file, offset, (int) available);
        List<Entry> out = new ArrayList<>();
        long pos = 0;
        long count = 0;
        while (pos < size) {
            if (pos + ENTRY_HEADER_SIZE > size) {
                throw broken();
            }
            if (++count > expected) {
                throw StrataException.invalid("More bitmaps found than specified in header extension");
            }
            long tableOffset = getLong(dir, pos);
            long tableSize = getInt(dir, pos + 8);
            int flags = (int) getInt(dir, pos + 12);
            int type = getByte(dir, pos + 16);
            int granularityBits = getByte(dir, pos + 17);
            int nameSize = (getByte(dir, pos + 18) << 8) | getByte(dir, pos + 19);
            long extraSize = getInt(dir, pos + 20);
            long entrySize = entrySize(nameSize, extraSize);
            if (pos + entrySize > size) {
                throw broken();
            }
            if (extraSize != 0) {
                throw StrataException.invalid("Bitmap extra data is not supported");
            }
            String name = string(dir, pos + ENTRY_HEADER_SIZE, nameSize);
            Entry e = new Entry(offset + pos, tableOffset, tableSize, flags, type, granularityBits, name,
                    extraSize);
            if (!satisfiesConstraints(e, clusterSize, virtualSize)) {
                throw StrataException.invalid("Bitmap '" + name + "' doesn't satisfy the constraints");
            }
            out.add(e);
            pos += entrySize;
        }
        if (count != expected) {
            throw StrataException.invalid("Less bitmaps found than specified in header extension");
        }
        return new Qcow2BitmapDirectory(out);
    }

    /**
     * qemu's calc_dir_entry_size, which computes in C {@code int}: a huge extra_data_size wraps
     * to a negative size, so the "entry past the directory" test passes and qemu goes on to
     * "Bitmap extra data is not supported" instead of "Broken bitmap directory".
     */
    static long entrySize(int nameSize, long extraSize) {
        int raw = (int) (ENTRY_HEADER_SIZE + nameSize + extraSize);
        return (raw + 7) & ~7;
    }

    /** qemu's check_dir_entry. */
    static boolean satisfiesConstraints(Entry e, int clusterSize, long virtualSize) {
        if (e.tableSize() == 0 || e.tableOffset() == 0 || (e.tableOffset() & (clusterSize - 1)) != 0
                || e.tableSize() > MAX_TABLE_SIZE || e.granularityBits() > MAX_GRANULARITY_BITS
                || e.granularityBits() < MIN_GRANULARITY_BITS || (e.flags() & RESERVED_FLAGS) != 0
                || e.name().getBytes(StandardCharsets.UTF_8).length > MAX_NAME_SIZE
                || e.type() != TYPE_DIRTY_TRACKING) {
            return false;
        }
        long physBytes = e.tableSize() * clusterSize;
        if (physBytes > MAX_PHYS_SIZE) {
            return false;
        }
        return e.inUse() || virtualSize <= ((physBytes * 8) << e.granularityBits());
    }

    /**
     * Checks the bitmap table of every bitmap that is not in use, as qemu does when it loads the
     * bitmaps at open: each table entry must be well-formed, and the table must have exactly as
     * many entries as the bitmap of the virtual size needs.
     *
     * @throws StrataException EINVAL with qemu's message for the first bad bitmap
     */
    public void checkTables(Storage file, int clusterSize, long virtualSize) {
        for (Entry e : entries) {
            if (e.inUse()) {
                continue;
            }
            if (!HostReads.readable(e.tableOffset(), e.tableSize() * 8)) {
                throw new StrataException(ErrorKind.EIO, "Could not read bitmap_table table from image for bitmap '"
                        + e.name() + "': " + HostReads.EIO_TEXT);
            }
            if (!tableEntriesValid(file, e, clusterSize)) {
                throw StrataException.invalid("Could not read bitmap_table table from image for bitmap '"
                        + e.name() + "': Invalid argument");
            }
            if (e.tableSize() != neededTableSize(e.granularityBits(), clusterSize, virtualSize)) {
                throw StrataException.invalid("Could not read bitmap '" + e.name() + "' from image: Invalid argument");
            }
        }
    }

    /** Entries qemu's serialisation of a bitmap over {@code virtualSize} needs (64-bit words, in clusters). */
    static long neededTableSize(int granularityBits, int clusterSize, long virtualSize) {
        if (virtualSize == 0) {
            return 0;
        }
        long words = (((virtualSize - 1) >>> granularityBits) >>> 6) + 1;
        long bytes = words * 8;
        return (bytes + clusterSize - 1) / clusterSize;
    }

    private static boolean tableEntriesValid(Storage file, Entry e, int clusterSize) {
        final int chunkEntries = 8192;
        for (long done = 0; done < e.tableSize(); done += chunkEntries) {
            int n = (int) Math.min(chunkEntries, e.tableSize() - done);
            ByteBuffer chunk = HostReads.read(file, e.tableOffset() + done * 8, n * 8);
            for (int i = 0; i < n; i++) {
                if (!tableEntryValid(chunk.getLong(i * 8), clusterSize)) {
                    return false;
                }
            }
        }
        return true;
    }

    /** qemu's check_table_entry for one bitmap table entry. */
    public static boolean tableEntryValid(long entry, int clusterSize) {
        if ((entry & TABLE_ENTRY_RESERVED_MASK) != 0) {
            return false;
        }
        long offset = entry & TABLE_ENTRY_OFFSET_MASK;
        if (offset != 0) {
            return (entry & TABLE_ENTRY_ALL_ONES) == 0 && offset % clusterSize == 0;
        }
        return true;
    }

    private static StrataException broken() {
        return StrataException.invalid("Broken bitmap directory");
    }

    private static int getByte(ByteBuffer b, long pos) {
        return pos < b.limit() ? b.get((int) pos) & 0xff : 0;
    }

    private static long getInt(ByteBuffer b, long pos) {
        long v = 0;
        for (int i = 0; i < 4; i++) {
            v = (v << 8) | getByte(b, pos + i);
        }
        return v;
    }

    private static long getLong(ByteBuffer b, long pos) {
        return (getInt(b, pos) << 32) | getInt(b, pos + 4);
    }

    private static String string(ByteBuffer b, long pos, int length) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            out[i] = (byte) getByte(b, pos + i);
        }
        return HostReads.cString(out, 0, length);
    }
}
