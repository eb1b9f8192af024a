package dev.strata.engine.ops.commit;

/*
 * Design note: the copy of qemu 7.2's active commit (a mirror job from the top image into its
 * base, block/mirror.c), step for step so the base ends up with the same clusters as qemu's:
 *
 *  - granularity G: the base's cluster size clamped to [4 KiB, 64 KiB] (64 KiB when it has no
 *    clusters: raw), qemu's bdrv_get_default_bitmap_granularity;
 *  - dirty bitmap (mirror_dirty_init): every G-chunk touched by a range allocated in a layer
 *    above the base (bdrv_is_allocated_above from the top down to the layer over the base,
 *    include_base): data, zero clusters, compressed clusters; a range past the end of a shorter
 *    intermediate layer counts as allocated (it reads as zeros there);
 *  - iterations (mirror_iteration): the first dirty chunk and the dirty chunks contiguous with
 *    it, at most 16 MiB; within it, the block status of the whole chain (want_zero) decides:
 *    DATA -> copy at most 1 MiB, rounded down to G (at least G): the guest view is read and
 *    written into the base, whole chunks, even where only part of a chunk was allocated above;
 *    not DATA -> write zeroes with MAY_UNMAP (ZERO) or discard (neither) over whole chunks, when
 *    the range is aligned to the base's subclusters, else copied like data;
 *  - a base whose clusters are larger than G gets whole clusters copied (mirror_cow_align);
 *  - progress: bytes copied over copied plus still dirty; zero writes count nothing where the
 *    base can write zeroes by unmapping (qcow2 v3, raw), as qemu's write_zeroes_ok.
 */

import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.Mapping;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.Layer;

import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.List;

/** Copies what the layers above a base allocate into the base, as qemu's commit job does. */
final class CommitCopier {
    private static final long MAX_IO_BYTES = 1 << 20;
    private static final long BUF_SIZE = 16L << 20;

    private final CommitChain chain;
    private final LayerWriter writer;
    private final long length;
    private final long granularity;
    private final long subcluster;
    private final long baseCluster;
    private final boolean zeroesUncounted;
    private final JobRateLimit rate;
    private final CommitListener listener;
    private final BitSet dirty = new BitSet();
    private final ByteBuffer buf = ByteBuffer.allocateDirect((int) MAX_IO_BYTES);
    private long done;

    CommitCopier(CommitChain chain, LayerWriter writer, long rateBytesPerSecond, CommitListener listener) {
        this.chain = chain;
        this.writer = writer;
        this.length = chain.top().driver().virtualSize();
        FormatDriver base = chain.base().driver();
        long cluster = base.describe().clusterSize();
        this.baseCluster = cluster;
        this.granularity = cluster > 0 ? Math.min(Math.max(4096, cluster), 65536) : 65536;
        boolean qcow2 = "qcow2".equals(base.formatName());
        Qcow2Header header = qcow2 ? Qcow2Header.parse(base.file()) : null;
        this.subcluster = header != null ? header.subclusterSize() : cluster;
        this.zeroesUncounted = header == null || header.version() >= 3;
        this.rate = new JobRateLimit(rateBytesPerSecond);
        this.listener = listener;
    }

    /** Runs the copy; the base's writer is flushed by the caller. */
    void run() {
        markDirty();
        long chunks = chunkCount();
        long next = dirty.nextSetBit(0);
        while (next >= 0 && next < chunks) {
            int first = (int) next;
            int end = dirty.nextClearBit(first);
            end = (int) Math.min(end, Math.min(chunks, first + BUF_SIZE / granularity));
            dirty.clear(first, end);
            iterate(first * granularity, (long) (end - first));
            next = dirty.nextSetBit(end);
        }
    }

    private long chunkCount() {
        return (length + granularity - 1) / granularity;
    }

    /** mirror_dirty_init: chunks touched by ranges allocated above the base. */
    private void markDirty() {
        List<Layer> layers = chain.layers();
        int above = chain.baseIndex();
        long offset = 0;
        while (offset < length) {
            long[] answer = allocatedAbove(layers, above, offset, length - offset);
            long n = answer[1];
            if (answer[0] != 0) {
                dirty.set((int) (offset / granularity), (int) ((offset + n + granularity - 1) / granularity));
            }
            offset += n;
        }
    }

    /** {allocated (0/1), bytes} of bdrv_is_allocated_above over layers [0, above). */
    private static long[] allocatedAbove(List<Layer> layers, int above, long offset, long bytes) {
        long len = bytes;
        for (int i = 0; i < above; i++) {
            FormatDriver d = layers.get(i).driver();
            long size = d.virtualSize();
            if (offset >= size) {
                return new long[] {1, len};
            }
            Mapping m = d.map(offset, Math.min(len, size - offset));
            long n = Math.min(m.length(), len);
            if (!(m instanceof Mapping.Unallocated)) {
                return new long[] {1, n};
            }
            len = n;
        }
        return new long[] {0, len};
    }

    /** One mirror_iteration over {@code nbChunks} dirty chunks from {@code offset}. */
    private void iterate(long offset, long nbChunks) {
        Image view = chain.guestView();
        long remainingChunks = nbChunks;
        long pos = offset;
        while (remainingChunks > 0 && pos < length) {
            Extent st = view.blockStatusAt(pos, Math.min(remainingChunks * granularity, length - pos));
            long io = st.length();
            if (st.data()) {
                io = Math.min(io, MAX_IO_BYTES);
            }
            io -= io % granularity;
            boolean copy = true;
            if (io < granularity) {
                io = granularity;
            } else if (!st.data() && (subcluster == 0 || (pos % subcluster == 0 && io % subcluster == 0))) {
                copy = false;
            }
            io = Math.min(io, length - pos);
            long counted;
            if (copy) {
                copyRange(pos, io);
                counted = io;
            } else if (st.zero()) {
                writer.writeZeroes(pos, io, true, chain.underBase());
                counted = zeroesUncounted ? 0 : io;
            } else {
                writer.discard(pos, io);
                counted = zeroesUncounted ? 0 : io;
            }
            done += counted;
            remainingChunks -= (io + granularity - 1) / granularity;
            pos += io;
            reportProgress(remainingChunks);
            rate.processed(counted);
        }
    }

    /** Reads the guest view and writes it into the base, widened to the base's clusters when they exceed G. */
    private void copyRange(long pos, long io) {
        long from = pos;
        long to = pos + io;
        if (baseCluster > granularity) {
            from = pos - pos % baseCluster;
            to = Math.min(length, (to + baseCluster - 1) / baseCluster * baseCluster);
        }
        for (long at = from; at < to; ) {
            int n = (int) Math.min(to - at, buf.capacity());
            buf.clear().limit(n);
            chain.guestView().read(buf, at);
            buf.flip();
            writer.write(buf, at, chain.underBase());
            at += n;
        }
    }

    private void reportProgress(long remainingChunks) {
        long still = (remainingChunks + dirty.cardinality()) * granularity;
        float total = done + still;
        listener.progress(total == 0 ? 0f : done / total * 100f);
    }
}
