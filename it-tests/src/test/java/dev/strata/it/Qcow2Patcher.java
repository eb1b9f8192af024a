package dev.strata.it;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Patches bytes of a qcow2 file in place, to make the bad and odd inputs of the corpus from good
 * images that real qemu-img wrote. Field offsets are those of the qcow2 specification
 * (docs/interop/qcow2.txt); all numbers big-endian.
 */
final class Qcow2Patcher implements AutoCloseable {
    static final int MAGIC = 0;
    static final int VERSION = 4;
    static final int BACKING_FILE_OFFSET = 8;
    static final int BACKING_FILE_SIZE = 16;
    static final int CLUSTER_BITS = 20;
    static final int SIZE = 24;
    static final int L1_SIZE = 36;
    static final int L1_TABLE_OFFSET = 40;
    static final int REFCOUNT_TABLE_OFFSET = 48;
    static final int NB_SNAPSHOTS = 60;
    static final int SNAPSHOTS_OFFSET = 64;
    static final int INCOMPATIBLE_FEATURES = 72;
    static final int REFCOUNT_ORDER = 96;
    static final int HEADER_LENGTH = 100;

    /** Header extension holding the backing file's format name. */
    static final int EXT_BACKING_FORMAT = 0xE2792ACA;

    /** Bits of an L1/L2 entry that hold a host offset. */
    static final long OFFSET_MASK = 0x00fffffffffffe00L;
    static final long COMPRESSED_FLAG = 1L << 62;

    private final RandomAccessFile file;

    Qcow2Patcher(Path path) {
        try {
            this.file = new RandomAccessFile(path.toFile(), "rw");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    long u64(long offset) {
        try {
            file.seek(offset);
            return file.readLong();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int u32(long offset) {
        try {
            file.seek(offset);
            return file.readInt();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int u16(long offset) {
        try {
            file.seek(offset);
            return file.readUnsignedShort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    Qcow2Patcher putU64(long offset, long value) {
        try {
            file.seek(offset);
            file.writeLong(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    Qcow2Patcher putU32(long offset, int value) {
        try {
            file.seek(offset);
            file.writeInt(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    Qcow2Patcher putU16(long offset, int value) {
        try {
            file.seek(offset);
            file.writeShort(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    Qcow2Patcher fill(long offset, int length, byte value) {
        try {
            file.seek(offset);
            byte[] b = new byte[length];
            java.util.Arrays.fill(b, value);
            file.write(b);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    Qcow2Patcher truncate(long length) {
        try {
            file.setLength(length);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    long length() {
        try {
            return file.length();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int clusterBits() {
        return u32(CLUSTER_BITS);
    }

    long clusterSize() {
        return 1L << clusterBits();
    }

    /** Host offset of L1 entry {@code index}. */
    long l1EntryOffset(int index) {
        return u64(L1_TABLE_OFFSET) + 8L * index;
    }

    /** Host offset of the L2 table that L1 entry {@code l1Index} points to (0 if none). */
    long l2TableOffset(int l1Index) {
        return u64(l1EntryOffset(l1Index)) & OFFSET_MASK;
    }

    /** Host offset of the first refcount block. */
    long firstRefcountBlock() {
        return u64(u64(REFCOUNT_TABLE_OFFSET)) & ~(clusterSize() - 1);
    }

    /** Host offset of the first header extension (v2 headers are 72 bytes, v3 say their length). */
    long firstExtension() {
        return u32(VERSION) >= 3 ? u32(HEADER_LENGTH) : 72;
    }

    /**
     * Renames the header extension of type {@code type} to an unknown type, which qemu ignores;
     * returns whether one was found. Used to drop the backing format so that it gets probed.
     */
    boolean hideExtension(int type) {
        long off = firstExtension();
        long end = Math.min(clusterSize(), length());
        while (off + 8 <= end) {
            int t = u32(off);
            int len = u32(off + 4);
            if (t == 0) {
                return false;
            }
            if (t == type) {
                putU32(off, 0x53545241); // "STRA": an extension type nobody defines
                return true;
            }
            off += 8 + ((len + 7L) & ~7L);
        }
        return false;
    }

    /** Guest cluster index of the first compressed L2 entry and its raw entry, or null. */
    long[] firstCompressedEntry() {
        int l1Size = u32(L1_SIZE);
        long clusterSize = clusterSize();
        for (int i = 0; i < l1Size; i++) {
            long l2 = l2TableOffset(i);
            if (l2 == 0) {
                continue;
            }
            for (long j = 0; j < clusterSize / 8; j++) {
                long entry = u64(l2 + 8 * j);
                if ((entry & COMPRESSED_FLAG) != 0) {
                    return new long[] {l2 + 8 * j, entry};
                }
            }
        }
        return null;
    }

    /** Host offset where the compressed data of {@code entry} starts. */
    long compressedDataOffset(long entry) {
        int csizeShift = 62 - (clusterBits() - 8);
        return entry & ((1L << csizeShift) - 1);
    }

    @Override
    public void close() {
        try {
            file.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
