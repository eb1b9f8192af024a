package dev.strata.engine.format.qcow2;

/*
 * Design note: the LayerWriter of a qcow2 layer. Concurrency is one read-write lock:
 *
 *  - a write whose every cluster is already allocated with OFLAG_COPIED (and, with extended
 *    L2, whose touched subclusters are allocated) takes the lock shared and goes straight to
 *    the host file: many such writes run at once;
 *  - everything that changes metadata (allocation, copy-on-write, zeroing, discarding,
 *    compressed writes, resize, flush of the header state) takes it exclusively and holds it
 *    across the allocating write, data included. Two writers that would allocate the same guest
 *    cluster are thereby serialised and the second finds the cluster allocated; nothing that
 *    frees or moves a cluster can run while an in-place write is still writing into it.
 *
 * Metadata is written back, as qemu's L2 and refcount caches do: changed L2 entries and
 * refcounts wait in memory (Qcow2PendingMetadata) until flush(), close, too much pending, or an
 * order constraint; resize runs with metadata written through.
 *
 * Crash safety: whenever they reach the disk, data and refcount increments come before the L2
 * entries that use them and refcount decrements after the entries that stopped using them,
 * with barriers in between; L2 tables are written before the L1 entries pointing to them. With
 * lazy_refcounts the dirty bit is set (and made durable) before the first metadata change after
 * a clean state and cleared by flush(), so a killed process leaves it set and qemu repairs the
 * refcounts on open.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReader;
import dev.strata.engine.format.CompressedUnit;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.Preallocation;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;

/** Writes one qcow2 layer. Thread-safe. */
final class Qcow2Writer implements LayerWriter {
    private final Qcow2WriteState s;
    private final Qcow2ClusterWriter clusters;
    private final Qcow2Resizer resizer;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean dirtyMarked;
    /** Told the guest range of every write, zero write and discard (qemu's bdrv_set_dirty). */
    private volatile GuestWriteListener guestWrites = GuestWriteListener.NONE;

    /** Receives the guest ranges whose data a request changed, after the request. */
    @FunctionalInterface
    interface GuestWriteListener {
        /** Listens to nothing. A class, not a lambda: every writable open uses it (see HostFiles.Binding). */
        GuestWriteListener NONE = new GuestWriteListener() {
            @Override
            public void written(long offset, long length) {
            }
        };

        /** {@code [offset, offset + length)} was written, zeroed or discarded. */
        void written(long offset, long length);
    }

    Qcow2Writer(Qcow2WriteState state, Function<Qcow2L2Entry, byte[]> decompress, boolean hasBitmaps,
                int snapshotCount) {
        this.s = state;
        this.clusters = new Qcow2ClusterWriter(state, decompress);
        this.resizer = new Qcow2Resizer(state, clusters, hasBitmaps, snapshotCount);
        this.dirtyMarked = state.header.dirty();
        state.pending.active(true);
    }

    /** The persistent bitmaps loaded for this image, which a resize checks and resizes. */
    void useBitmaps(Qcow2Bitmaps loaded) {
        resizer.useBitmaps(loaded);
    }

    /** Installs the listener told about every guest range a request changes. */
    void onGuestWrite(GuestWriteListener listener) {
        this.guestWrites = listener;
    }

    /**
     * Writes every pending metadata change, so that code editing the metadata directly (the
     * persistent bitmaps) sees the file as it is; it must re-read what it needs.
     */
    void flushForMetadata() {
        flush();
    }

    /** The header was rewritten by someone else (the bitmaps code): read it again. */
    void headerRewritten() {
        s.rereadHeader();
    }

    /**
     * {@link #flushForMetadata} as a task, for the persistent bitmaps. Here and in
     * {@link #headerReread} classes rather than method references: every writable open makes
     * them, and a method reference is linked at its first use, at start-up (see
     * HostFiles.Binding).
     */
    Runnable metadataFlush() {
        return new Runnable() {
            @Override
            public void run() {
                flushForMetadata();
            }
        };
    }

    /** {@link #headerRewritten} as a task, for the persistent bitmaps. */
    Runnable headerReread() {
        return new Runnable() {
            @Override
            public void run() {
                headerRewritten();
            }
        };
    }

    @Override
    public void write(ByteBuffer src, long guestOffset, BackingReader below) {
        usable();
        if (!src.hasRemaining()) {
            return;
        }
        long length = src.remaining();
        if (!writeInPlace(src, guestOffset)) {
            lock.writeLock().lock();
            try {
                usable();
                markDirty();
                clusters.write(src.duplicate(), guestOffset, below);
                limitPending();
            } finally {
                lock.writeLock().unlock();
            }
        }
        src.position(src.limit());
        guestWrites.written(guestOffset, length);
        afterWrite();
    }

    /** The lock-shared path: true when every byte went to an existing COPIED cluster. */
    private boolean writeInPlace(ByteBuffer src, long guestOffset) {
        long end = guestOffset + src.remaining();
        lock.readLock().lock();
        try {
            long[] runs = new long[8];
            int nRuns = 0;
            long pos = guestOffset;
            while (pos < end) {
                long chunkEnd = Math.min(end, ((pos >>> s.clusterBits) + 1) << s.clusterBits);
                long host = inPlaceHost(pos, chunkEnd);
                if (host < 0) {
                    return false;
                }
                if (nRuns > 0 && runs[(nRuns - 1) * 3 + 1] + runs[(nRuns - 1) * 3 + 2] == host) {
                    runs[(nRuns - 1) * 3 + 2] += chunkEnd - pos;
                } else {
                    if ((nRuns + 1) * 3 > runs.length) {
                        runs = Arrays.copyOf(runs, runs.length * 2);
                    }
                    runs[nRuns * 3] = pos;
                    runs[nRuns * 3 + 1] = host;
                    runs[nRuns * 3 + 2] = chunkEnd - pos;
                    nRuns++;
                }
                pos = chunkEnd;
            }
            for (int r = 0; r < nRuns; r++) {
                s.guard.check(runs[r * 3 + 1], runs[r * 3 + 2], -1);
            }
            for (int r = 0; r < nRuns; r++) {
                ByteBuffer part = src.duplicate();
                part.position(src.position() + (int) (runs[r * 3] - guestOffset));
                part.limit(part.position() + (int) runs[r * 3 + 2]);
                s.data.write(part, runs[r * 3 + 1]);
            }
            return true;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Host offset of guest {@code pos} when [pos, end) (inside one cluster) can be written in place, else -1. */
    private long inPlaceHost(long pos, long end) {
        long l1e = s.l1.entry(pos >>> (s.clusterBits + s.l2Bits));
        long l2 = l1e & Qcow2L2Entry.L1_OFFSET_MASK;
        if (l2 == 0 || (l1e & Qcow2L2Entry.OFLAG_COPIED) == 0 || (l2 & (s.clusterSize - 1)) != 0) {
            return -1;
        }
        long l2Index = (pos >>> s.clusterBits) & ((1L << s.l2Bits) - 1);
        Qcow2L2Slice words = s.l2Cache.slice(s.sliceOffset(l2, l2Index));
        int w = (int) (l2Index % s.sliceEntries) * s.entryWords;
        long e = words.word(w);
        if ((e & Qcow2L2Entry.OFLAG_COPIED) == 0 || (e & Qcow2L2Entry.OFLAG_COMPRESSED) != 0) {
            return -1;
        }
        long hostCluster = e & Qcow2L2Entry.OFFSET_MASK;
        if ((hostCluster == 0 && !s.externalData) || (hostCluster & (s.clusterSize - 1)) != 0) {
            return -1;
        }
        if (s.extended) {
            long bitmap = words.word(w + 1);
            int first = (int) ((pos & (s.clusterSize - 1)) >>> s.subclusterBits);
            int last = (int) (((end - 1) & (s.clusterSize - 1)) >>> s.subclusterBits);
            long mask = ((1L << (last + 1)) - 1) & ~((1L << first) - 1);
            if ((bitmap & mask) != mask || ((bitmap >>> 32) & mask) != 0) {
                return -1;
            }
        } else if ((e & Qcow2L2Entry.OFLAG_ZERO) != 0) {
            return -1;
        }
        return hostCluster + (pos & (s.clusterSize - 1));
    }

    @Override
    public void writeZeroes(long guestOffset, long length, boolean mayUnmap, BackingReader below) {
        usable();
        // qemu's block layer (bdrv_co_do_pwrite_zeroes) cuts the request at the subcluster
        // alignment: an unaligned head, the aligned bulk, an unaligned tail; each piece the driver
        // cannot zero in metadata is written as zero bytes.
        long sc = 1L << s.subclusterBits;
        long end = guestOffset + length;
        long tail = end & (sc - 1);
        long pos = guestOffset;
        while (pos < end) {
            long num = end - pos;
            long head = pos & (sc - 1);
            if (head != 0) {
                num = Math.min(num, sc - head);
            } else if (tail != 0 && num > sc) {
                num -= tail;
            }
            if (!zeroize(pos, num, mayUnmap, below)) {
                writeZeroBytes(pos, pos + num, below);
            }
            pos += num;
        }
        guestWrites.written(guestOffset, length);
        afterWrite();
    }

    /**
     * qemu's qcow2_co_pwrite_zeroes for one piece: a piece that does not cover whole
     * subclusters is widened to its subcluster when the rest of it already reads as zeros and the
     * subcluster is unallocated or zero; then the subclusters and clusters become zero in
     * metadata (v3), or unallocated (v2 without a backing file).
     *
     * @return false where qemu answers ENOTSUP (the caller writes zero bytes instead)
     */
    private boolean zeroize(long pos, long num, boolean mayUnmap, BackingReader below) {
        long sc = 1L << s.subclusterBits;
        long head = pos & (sc - 1);
        long tailGap = ((pos + num + sc - 1) & ~(sc - 1)) - (pos + num);
        if (pos + num == s.virtualSize) {
            tailGap = 0;
        }
        boolean widened = head != 0 || tailGap != 0;
        if (widened && !(clusters.readsAsZeros(pos - head, head, below)
                && clusters.readsAsZeros(pos + num, tailGap, below))) {
            return false;
        }
        long offset = widened ? pos - head : pos;
        long bytes = widened ? sc : num;
        if (s.version < 3 && s.hasBacking) {
            return false;
        }
        lock.writeLock().lock();
        try {
            usable();
            if (widened && !clusters.zeroableSubcluster(offset)) {
                return false;
            }
            markDirty();
            boolean done;
            if (s.version >= 3) {
                done = clusters.zeroSubclusters(offset, bytes, mayUnmap);
            } else {
                clusters.unallocateClusters(offset, roundUp(offset + bytes) - offset);
                done = true;
            }
            limitPending();
            return done;
        } finally {
            lock.writeLock().unlock();
        }
    }

    private long roundUp(long v) {
        return (v + s.clusterSize - 1) & ~(s.clusterSize - 1);
    }

    private void writeZeroBytes(long from, long to, BackingReader below) {
        long pos = from;
        while (pos < to) {
            int n = (int) Math.min(to - pos, 1 << 20);
            write(ByteBuffer.allocate(n), pos, below);
            pos += n;
        }
    }

    @Override
    public void discard(long guestOffset, long length) {
        usable();
        long cs = s.clusterSize;
        long end = guestOffset + length;
        long start = (guestOffset + cs - 1) & ~(cs - 1);
        long alignedEnd = end == s.virtualSize ? roundUp(end) : end & ~(cs - 1);
        if (start >= alignedEnd) {
            guestWrites.written(guestOffset, length);
            return;
        }
        lock.writeLock().lock();
        try {
            usable();
            markDirty();
            clusters.discardClusters(start, alignedEnd - start);
            limitPending();
        } finally {
            lock.writeLock().unlock();
        }
        guestWrites.written(guestOffset, length);
    }

    /**
     * qcow2_make_empty's fallback: every cluster of the image discarded with full discard (L2
     * entries cleared, clusters freed and punched once nothing uses them), in steps of INT_MAX
     * rounded down to the cluster size as qemu's loop does. A driver-internal operation: no
     * dirty bitmap is marked.
     */
    void discardAll() {
        usable();
        long step = (Integer.MAX_VALUE / s.clusterSize) * s.clusterSize;
        lock.writeLock().lock();
        try {
            usable();
            markDirty();
            long end = roundUp(s.virtualSize);
            for (long offset = 0; offset < end; offset += step) {
                clusters.fullDiscard(offset, Math.min(step, end - offset));
                limitPending();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public int compressedUnit() {
        return s.externalData ? 0 : (int) s.clusterSize;
    }

    @Override
    public CompressedUnit compress(ByteBuffer src, long guestOffset) {
        usable();
        if (compressedUnit() == 0) {
            throw StrataException.unsupported("Compression is not supported for this drive " + s.file.name());
        }
        int cs = (int) s.clusterSize;
        byte[] in = new byte[cs];
        src.duplicate().get(in, 0, src.remaining());
        byte[] out = new byte[cs - 1];
        int len = Qcow2Compressor.compress(s.compressionType, in, cs, out);
        ByteBuffer plain = src.duplicate();
        return len < 0 ? new CompressedUnit(guestOffset, plain, null, 0) : new CompressedUnit(guestOffset, plain, out, len);
    }

    @Override
    public void writeCompressed(CompressedUnit unit) {
        usable();
        if (compressedUnit() == 0) {
            throw StrataException.unsupported("Compression is not supported for this drive " + s.file.name());
        }
        if (unit.storedPlain()) {
            write(unit.plain().duplicate(), unit.guestOffset(), BackingReader.NONE);
            return;
        }
        lock.writeLock().lock();
        try {
            usable();
            markDirty();
            clusters.writeCompressedCluster(unit.guestOffset(), unit.compressed(), unit.length());
            limitPending();
        } finally {
            lock.writeLock().unlock();
        }
        guestWrites.written(unit.guestOffset(), unit.plain().remaining());
        afterWrite();
    }

    @Override
    public void resize(long newSize, Preallocation preallocation, BackingReader below) {
        usable();
        lock.writeLock().lock();
        try {
            markDirty();
            s.pending.active(false);
            try {
                resizer.resize(newSize, preallocation, below);
            } finally {
                s.pending.active(true);
            }
            flushLocked();
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void flush() {
        lock.writeLock().lock();
        try {
            flushLocked();
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void flushLocked() {
        if (s.corrupted) {
            return;
        }
        if (!s.pending.writeAll()) {
            s.barrier();
        }
        if (dirtyMarked && s.lazyRefcounts && s.header.dirty()) {
            s.writeIncompatible(s.header.incompatibleFeatures() & ~Qcow2FeatureBits.INCOMPAT_DIRTY);
            s.barrier();
            dirtyMarked = false;
        }
    }

    /** With lazy refcounts: set the dirty bit before the first metadata change after a flush. */
    private void markDirty() {
        if (s.lazyRefcounts && !s.header.dirty()) {
            s.writeIncompatible(s.header.incompatibleFeatures() | Qcow2FeatureBits.INCOMPAT_DIRTY);
            s.barrier();
            dirtyMarked = true;
        }
    }

    private void afterWrite() {
        if (s.cache.flushEachWrite()) {
            flush();
        }
    }

    /** Writes pending metadata out once too much has piled up (under the exclusive lock). */
    private void limitPending() {
        if (s.pending.overLimit() && !s.corrupted) {
            s.pending.writeAll();
        }
    }

    private void usable() {
        if (s.corrupted) {
            throw new StrataException(ErrorKind.EIO, "Input/output error");
        }
    }
}
