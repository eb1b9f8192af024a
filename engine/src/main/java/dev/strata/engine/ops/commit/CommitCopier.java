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
 *    the range is aligned to the base's clusters (7.2's bdrv_round_to_clusters: clusters even
 *    with extended L2; later qemus round to subclusters), else copied like data;
 *  - copies are never widened to the base's clusters: mirror_cow_align only acts with a cow
 *    bitmap, which mirror_run makes only for a target that names a backing file its job did not
 *    open, and a commit's base always has its backing chain open (or none); a base cluster
 *    larger than G is allocated by the first chunk written into it, its copy-on-write reading
 *    what lies under the base (only the written subclusters with extended L2), as qemu's qcow2
 *    driver does;
 *  - progress: bytes copied over copied plus still dirty; zero writes count nothing where the
 *    base can write zeroes by unmapping (qcow2 v3, raw), as qemu's write_zeroes_ok.
 *
 * The iterations are planned as a sequence of CommitSteps (copies cut to the read buffer). They
 * run through CommitReadAhead: planning and reading on a helper thread, writing in plan order
 * on the calling thread, so the base gets the same requests in the same order as a copy one step
 * at a time. The block status of a chunk inside a base cluster that an earlier step wrote
 * depends on that write having been done, so there the planner waits for the writes first.
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
    private static final int MAX_IO_BYTES = 1 << 20;
    private static final long BUF_SIZE = 16L << 20;
    /**
     * Read buffers in flight: enough to keep reading while the base is written, and to wake the
     * reader once per four steps written rather than after each (see CommitReadAhead).
     */
    private static final int READ_AHEAD_BUFFERS = 8;

    private final CommitChain chain;
    private final LayerWriter writer;
    private final long length;
    private final long granularity;
    /** The base's cluster size, 0 when it has none (raw). */
    private final long baseCluster;
    private final boolean zeroesUncounted;
    private final JobRateLimit rate;
    private final CommitListener listener;
    private final BitSet dirty = new BitSet();
    private long done;
    /** End of the base cluster the last step ended in, where clusters are larger than G. */
    private long sharedClusterEnd;

    CommitCopier(CommitChain chain, LayerWriter writer, long rateBytesPerSecond, CommitListener listener) {
        this.chain = chain;
        this.writer = writer;
        this.length = chain.top().driver().virtualSize();
        FormatDriver base = chain.base().driver();
        long cluster = base.clusterSize();
        this.granularity = cluster > 0 ? Math.min(Math.max(4096, cluster), 65536) : 65536;
        this.baseCluster = cluster;
        boolean qcow2 = "qcow2".equals(base.formatName());
        Qcow2Header header = qcow2 ? Qcow2Header.parse(base.file()) : null;
        this.zeroesUncounted = header == null || header.version() >= 3;
        this.rate = new JobRateLimit(rateBytesPerSecond);
        this.listener = listener;
    }

    /** Runs the copy; the base's writer is flushed by the caller. */
    void run() {
        markDirty();
        Image view = chain.guestView();
        // Anonymous classes, not method references: every commit would link them at start-up
        // (see HostFiles.Binding).
        CommitReadAhead.Planner planner = new CommitReadAhead.Planner() {
            @Override
            public void plan(CommitReadAhead.Sink out) {
                CommitCopier.this.plan(out);
            }
        };
        CommitReadAhead.Reader reader = new CommitReadAhead.Reader() {
            @Override
            public void read(ByteBuffer dst, long offset) {
                view.read(dst, offset);
            }
        };
        try (CommitReadAhead ahead = new CommitReadAhead(planner, reader, READ_AHEAD_BUFFERS, MAX_IO_BYTES)) {
            for (CommitReadAhead.Ready r = ahead.next(); r != null; r = ahead.next()) {
                execute(r.step(), r.data());
                ahead.release(r);
            }
        }
    }

    /** Does one step to the base; {@code data} holds a COPY step's bytes. */
    private void execute(CommitStep step, ByteBuffer data) {
        switch (step.kind()) {
            case COPY -> writer.write(data, step.offset(), chain.underBase());
            case ZERO -> writer.writeZeroes(step.offset(), step.length(), true, chain.underBase());
            case DISCARD -> writer.discard(step.offset(), step.length());
        }
        if (step.reports()) {
            listener.progress(step.progress());
            rate.processed(step.counted());
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

    /** The mirror iterations over the dirty chunks, as steps handed to {@code out} in order. */
    private void plan(CommitReadAhead.Sink out) {
        long chunks = chunkCount();
        long next = dirty.nextSetBit(0);
        while (next >= 0 && next < chunks) {
            int first = (int) next;
            int end = dirty.nextClearBit(first);
            end = (int) Math.min(end, Math.min(chunks, first + BUF_SIZE / granularity));
            dirty.clear(first, end);
            iterate(first * granularity, (long) (end - first), out);
            next = dirty.nextSetBit(end);
        }
    }

    /** One mirror_iteration over {@code nbChunks} dirty chunks from {@code offset}. */
    private void iterate(long offset, long nbChunks, CommitReadAhead.Sink out) {
        Image view = chain.guestView();
        long remainingChunks = nbChunks;
        long pos = offset;
        while (remainingChunks > 0 && pos < length) {
            if (pos < sharedClusterEnd) {
                out.awaitWritten();
            }
            Extent st = view.blockStatusAt(pos, Math.min(remainingChunks * granularity, length - pos));
            long io = st.length();
            if (st.data()) {
                io = Math.min(io, MAX_IO_BYTES);
            }
            io -= io % granularity;
            boolean copy = true;
            if (io < granularity) {
                io = granularity;
            } else if (!st.data() && (baseCluster == 0 || (pos % baseCluster == 0 && io % baseCluster == 0))) {
                copy = false;
            }
            io = Math.min(io, length - pos);
            long counted = copy || !zeroesUncounted ? io : 0;
            done += counted;
            remainingChunks -= (io + granularity - 1) / granularity;
            long still = (remainingChunks + dirty.cardinality()) * granularity;
            float total = done + still;
            float progress = total == 0 ? 0f : done / total * 100f;
            if (copy) {
                for (long at = pos; at < pos + io; ) {
                    long n = Math.min(pos + io - at, MAX_IO_BYTES);
                    boolean last = at + n == pos + io;
                    out.accept(new CommitStep(CommitStep.Kind.COPY, at, n, last, progress, counted));
                    at += n;
                }
            } else {
                CommitStep.Kind kind = st.zero() ? CommitStep.Kind.ZERO : CommitStep.Kind.DISCARD;
                out.accept(new CommitStep(kind, pos, io, true, progress, counted));
            }
            pos += io;
            if (baseCluster > granularity) {
                sharedClusterEnd = (pos + baseCluster - 1) / baseCluster * baseCluster;
            }
        }
    }
}
