package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu's qcow2 metadata caches in write-back mode (qcow2-cache.c, with the
 * dependencies qcow2-cluster.c and qcow2-refcount.c declare between them). Changed L2 entries
 * stay in the L2 slice cache, pinned, and changed refcounts in the refcount writer's blocks,
 * until a flush, until too much is pending, or until an order constraint forces them out:
 *
 *  - an L2 entry may reach the disk only after the refcount increment of the cluster it points
 *    to, and after the cluster's data: pending increments, barrier, then pending L2 entries;
 *  - a refcount may drop on disk only after the L2 entries that stopped using the cluster:
 *    pending L2 entries, barrier, then the blocks holding the decrements.
 *
 * Pending refcounts are therefore either increments only (written before the L2 entries) or
 * decrements only (written after them). A change of the other kind first writes out what is
 * pending in the order the current kind needs, as qemu's qcow2_cache_set_dependency flushes a
 * cache rather than let two caches depend on each other. Everything here runs under the
 * writer's exclusive lock; readers see pinned slices through the L2 cache.
 */

import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** The L2 entries and refcounts a writable qcow2 layer has changed but not yet written. */
final class Qcow2PendingMetadata implements Qcow2RefcountWriter.Ordering {
    /** Bytes of L2 slices kept pending before they are written anyway. */
    private static final long MAX_PENDING_L2_BYTES = 8L << 20;
    /** Refcount blocks kept pending before they are written anyway. */
    private static final int MAX_PENDING_BLOCKS = 64;

    private final Storage file;
    private final Qcow2L2Cache l2Cache;
    private final Qcow2RefcountWriter refcounts;
    private final Runnable barrier;
    private final int maxSlices;
    /** Changed byte range {from, to} within each pending slice, by slice offset. */
    private final TreeMap<Long, int[]> slices = new TreeMap<>();
    private boolean decrementsPending;
    private boolean active;

    /**
     * @param barrier the flush barrier of the layer (a no-op when the cache mode ignores flushes)
     */
    Qcow2PendingMetadata(Storage file, Qcow2L2Cache l2Cache, Qcow2RefcountWriter refcounts, Runnable barrier) {
        this.file = file;
        this.l2Cache = l2Cache;
        this.refcounts = refcounts;
        this.barrier = barrier;
        this.maxSlices = (int) Math.max(16, MAX_PENDING_L2_BYTES / l2Cache.sliceBytes());
    }

    /** Whether metadata is written back (true) or through (false). */
    boolean active() {
        return active;
    }

    /**
     * Switches write-back on or off; switching off first writes everything pending (with the
     * barriers the order needs).
     */
    void active(boolean on) {
        if (!on) {
            writeAll();
        }
        active = on;
        refcounts.writeBack(on, this);
    }

    /**
     * Entries [fromByte, toByte) of the slice at {@code sliceOffset} changed to {@code words}:
     * cached and pinned, written later.
     */
    void l2Changed(long sliceOffset, Qcow2L2Slice words, int fromByte, int toByte) {
        l2Cache.updatePinned(sliceOffset, words);
        int[] r = slices.get(sliceOffset);
        if (r == null) {
            slices.put(sliceOffset, new int[] {fromByte, toByte});
        } else {
            r[0] = Math.min(r[0], fromByte);
            r[1] = Math.max(r[1], toByte);
        }
    }

    /** Whether so much is pending that it should be written now. */
    boolean overLimit() {
        return slices.size() > maxSlices || refcounts.dirtyCount() > MAX_PENDING_BLOCKS;
    }

    @Override
    public void beforeIncrement() {
        if (decrementsPending) {
            writeAll();
        }
    }

    @Override
    public void beforeDecrement() {
        if (!decrementsPending && refcounts.hasDirty()) {
            refcounts.writeDirty();
            barrier.run();
        }
        decrementsPending = true;
    }

    /**
     * Makes pending refcount increments durable before something that depends on them is
     * written directly (an L1 entry pointing to a new L2 table).
     */
    void incrementsBeforeDirectWrite() {
        if (!decrementsPending && refcounts.hasDirty()) {
            refcounts.writeDirty();
            barrier.run();
        }
    }

    /**
     * Writes everything pending in a crash-safe order, ending with a barrier: data before the L2
     * entries that point to it, increments before them too, decrements after them.
     *
     * @return whether anything was written (and a barrier ended it)
     */
    boolean writeAll() {
        boolean l2 = !slices.isEmpty();
        boolean blocks = refcounts.hasDirty();
        if (!l2 && !blocks) {
            decrementsPending = false;
            return false;
        }
        if (decrementsPending) {
            if (l2) {
                barrier.run(); // data before the entries pointing to it
                writeSlices();
            }
            barrier.run(); // entries before the decrements
            if (blocks) {
                refcounts.writeDirty();
                barrier.run();
            }
        } else {
            if (blocks) {
                refcounts.writeDirty();
            }
            barrier.run(); // data and increments before the entries
            if (l2) {
                writeSlices();
                barrier.run();
            }
        }
        decrementsPending = false;
        return true;
    }

    /** Writes the changed ranges of the pending slices, one pwrite per contiguous run. */
    private void writeSlices() {
        List<long[]> run = new ArrayList<>();
        long runStart = -1;
        long runEnd = -1;
        for (Map.Entry<Long, int[]> e : slices.entrySet()) {
            long from = e.getKey() + e.getValue()[0];
            long to = e.getKey() + e.getValue()[1];
            if (from != runEnd && !run.isEmpty()) {
                writeRun(run, runStart, runEnd);
                run.clear();
            }
            if (run.isEmpty()) {
                runStart = from;
            }
            run.add(new long[] {e.getKey(), e.getValue()[0], e.getValue()[1]});
            runEnd = to;
        }
        if (!run.isEmpty()) {
            writeRun(run, runStart, runEnd);
        }
        for (Long offset : slices.keySet()) {
            l2Cache.unpin(offset);
        }
        slices.clear();
    }

    private void writeRun(List<long[]> pieces, long start, long end) {
        ByteBuffer b = ByteBuffer.allocate((int) (end - start));
        for (long[] p : pieces) {
            Qcow2L2Slice words = l2Cache.slice(p[0]);
            int from = (int) p[1];
            int to = (int) p[2];
            ByteBuffer part = b.duplicate();
            part.position((int) (p[0] + from - start));
            words.put(part, from / 8, to / 8);
        }
        file.write(b, start);
    }
}
