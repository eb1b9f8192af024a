package dev.strata.engine.format.qcow2.check;

import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.storage.FileStorage;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Controlled byte patches on a qcow2 image made by the real qemu-img, to make it inconsistent
 * in one known way: refcounts (any width), L1/L2 entries, refcount table entries, header fields.
 * Offsets come from the image's own header, parsed by the engine.
 */
final class ImagePatcher implements AutoCloseable {
    static final long L1_OFFSET_MASK = 0x00fffffffffffe00L;
    static final long COPIED = 1L << 63;
    static final long COMPRESSED = 1L << 62;

    final Path path;
    final Qcow2Header header;
    final int clusterSize;
    final int refcountBits;
    private final RandomAccessFile file;

    ImagePatcher(Path path) {
        this.path = path;
        try (FileStorage s = FileStorage.open(path.toString(), true)) {
            this.header = Qcow2Header.parse(s, true);
        }
        this.clusterSize = header.clusterSize();
        this.refcountBits = header.refcountBits();
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

    void w64(long offset, long value) {
        try {
            file.seek(offset);
            file.writeLong(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void w32(long offset, int value) {
        try {
            file.seek(offset);
            file.writeInt(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int u8(long offset) {
        try {
            file.seek(offset);
            return file.read();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void w8(long offset, int value) {
        try {
            file.seek(offset);
            file.write(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    long length() {
        try {
            return file.length();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void setLength(long length) {
        try {
            file.setLength(length);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Clusters the file covers (the last one may be partial). */
    long fileClusters() {
        return (length() + clusterSize - 1) / clusterSize;
    }

    long l1(int index) {
        return u64(header.l1TableOffset() + 8L * index);
    }

    void setL1(int index, long value) {
        w64(header.l1TableOffset() + 8L * index, value);
    }

    /** Host offset of the L2 table of L1 entry {@code index}. */
    long l2Table(int index) {
        return l1(index) & L1_OFFSET_MASK;
    }

    /** Host offset of entry {@code j} of the L2 table at {@code l2}. */
    long l2EntryOffset(long l2, int j) {
        return l2 + (long) j * header.l2EntrySize();
    }

    /** Host offset of the first allocated, uncompressed entry of the first L2 table. */
    long firstDataEntry() {
        long l2 = l2Table(0);
        for (int j = 0; j < header.l2Entries(); j++) {
            long e = u64(l2EntryOffset(l2, j));
            if ((e & L1_OFFSET_MASK) != 0 && (e & COMPRESSED) == 0) {
                return l2EntryOffset(l2, j);
            }
        }
        throw new IllegalStateException("no allocated data cluster in the first L2 table");
    }

    /** Host offset of the first compressed entry of the first L2 table. */
    long firstCompressedEntry() {
        long l2 = l2Table(0);
        for (int j = 0; j < header.l2Entries(); j++) {
            if ((u64(l2EntryOffset(l2, j)) & COMPRESSED) != 0) {
                return l2EntryOffset(l2, j);
            }
        }
        throw new IllegalStateException("no compressed cluster in the first L2 table");
    }

    /** Cluster index of the data cluster of the L2 entry at {@code entryOffset}. */
    long dataCluster(long entryOffset) {
        return (u64(entryOffset) & L1_OFFSET_MASK) / clusterSize;
    }

    long refcountTableEntry(int index) {
        return u64(header.refcountTableOffset() + 8L * index);
    }

    void setRefcountTableEntry(int index, long value) {
        w64(header.refcountTableOffset() + 8L * index, value);
    }

    /** Stored refcount of {@code cluster} (its refcount block must exist). */
    long refcount(long cluster) {
        long[] at = locate(cluster);
        long bitPos = at[1] * refcountBits;
        if (refcountBits >= 8) {
            long v = 0;
            for (int i = 0; i < refcountBits / 8; i++) {
                v = (v << 8) | u8(at[0] + bitPos / 8 + i);
            }
            return v;
        }
        int b = u8(at[0] + bitPos / 8);
        return (b >>> (bitPos % 8)) & ((1 << refcountBits) - 1);
    }

    /** Stores {@code value} as the refcount of {@code cluster} (its refcount block must exist). */
    void setRefcount(long cluster, long value) {
        long[] at = locate(cluster);
        long bitPos = at[1] * refcountBits;
        if (refcountBits >= 8) {
            int bytes = refcountBits / 8;
            for (int i = 0; i < bytes; i++) {
                w8(at[0] + bitPos / 8 + i, (int) (value >>> (8 * (bytes - 1 - i))) & 0xff);
            }
            return;
        }
        int shift = (int) (bitPos % 8);
        int mask = ((1 << refcountBits) - 1) << shift;
        int b = u8(at[0] + bitPos / 8);
        w8(at[0] + bitPos / 8, (b & ~mask) | ((int) (value << shift) & mask));
    }

    private long[] locate(long cluster) {
        long perBlock = (long) clusterSize * 8 / refcountBits;
        long block = refcountTableEntry((int) (cluster / perBlock)) & 0xfffffffffffffe00L;
        if (block == 0) {
            throw new IllegalStateException("no refcount block for cluster " + cluster);
        }
        return new long[] {block, cluster % perBlock};
    }

    /** Appends one cluster to the file and gives it a stored refcount of 1: a leak. */
    long appendLeakedCluster() {
        long cluster = fileClusters();
        setLength((cluster + 1) * clusterSize);
        setRefcount(cluster, 1);
        return cluster;
    }

    /** Host offset of snapshot table entry {@code index}. */
    long snapshotEntry(int index) {
        long off = header.snapshotsOffset();
        for (int i = 0; ; i++) {
            off = (off + 7) & ~7L;
            if (i == index) {
                return off;
            }
            int ids = (u8(off + 12) << 8) | u8(off + 13);
            int names = (u8(off + 14) << 8) | u8(off + 15);
            long extra = u64(off + 32) & 0xffffffffL;
            off += 40 + extra + ids + names;
        }
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
