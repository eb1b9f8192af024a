package dev.strata.engine.format.qcow2;

/*
 * Design note: the L2 metadata cache, sized like qemu's default (read_cache_sizes): enough to
 * cover the whole disk but at most 32 MiB, in slices of one cluster when it covers the whole
 * disk and of min(cluster, 4 KiB) otherwise. It is a striped LRU: sixteen independently locked
 * segments, so concurrent lookups of different slices do not serialise on one lock, and each
 * lock is held only for a hash-map operation (never during I/O). A miss reads the slice
 * without holding any lock; two threads missing the same slice may both read it. Slices are
 * immutable (Qcow2L2Slice). A writer replaces a slice with {@link #update} after writing it to
 * disk; each segment counts its updates, and a miss only inserts what it read when no update
 * happened in that segment meanwhile, so a slow reader never puts back a stale slice.
 *
 * A writer that writes L2 entries back later (qcow2's L2 table cache) pins the slices it
 * changed with {@link #updatePinned}: a pinned slice is never evicted, since the disk does not
 * hold it yet, until {@link #unpin} after the writer wrote it.
 */

import dev.strata.engine.storage.Storage;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/** A concurrent LRU cache of L2 table slices. */
final class Qcow2L2Cache {
    /** qemu's DEFAULT_L2_CACHE_MAX_SIZE on Linux. */
    static final long DEFAULT_MAX_BYTES = 32L * 1024 * 1024;
    /** qemu's MIN_L2_CACHE_SIZE, in entries. */
    static final int MIN_ENTRIES = 2;
    private static final int SEGMENTS = 16;

    private final Storage file;
    private final int sliceBytes;
    private final Segment[] segments = new Segment[SEGMENTS];

    /**
     * @param file       the image file holding the L2 tables
     * @param sliceBytes bytes per slice (a power of two dividing the cluster size)
     * @param capacity   total number of slices kept
     */
    Qcow2L2Cache(Storage file, int sliceBytes, int capacity) {
        this.file = file;
        this.sliceBytes = sliceBytes;
        int perSegment = Math.max(1, (capacity + SEGMENTS - 1) / SEGMENTS);
        for (int i = 0; i < SEGMENTS; i++) {
            segments[i] = new Segment(perSegment);
        }
    }

    /** Cache geometry for an image, following qemu's read_cache_sizes defaults. */
    static Qcow2L2Cache forImage(Storage file, Qcow2Header header) {
        long clusterSize = header.clusterSize();
        long guestClusters = (header.virtualSize() + clusterSize - 1) / clusterSize;
        long maxL2Cache = ((guestClusters * header.l2EntrySize() + clusterSize - 1) / clusterSize) * clusterSize;
        long cacheBytes = Math.min(maxL2Cache, DEFAULT_MAX_BYTES);
        int slice = cacheBytes < maxL2Cache ? (int) Math.min(clusterSize, 4096) : (int) clusterSize;
        int entries = (int) Math.max(MIN_ENTRIES, cacheBytes / slice);
        return new Qcow2L2Cache(file, slice, entries);
    }

    /** Bytes per slice. */
    int sliceBytes() {
        return sliceBytes;
    }

    /**
     * The words of the slice at host offset {@code sliceOffset} (an L2 table offset plus a
     * multiple of the slice size).
     */
    Qcow2L2Slice slice(long sliceOffset) {
        Segment seg = segment(sliceOffset);
        Qcow2L2Slice words = seg.get(sliceOffset);
        if (words == null) {
            long generation = seg.generation();
            words = Qcow2L2Slice.read(HostReads.read(file, sliceOffset, sliceBytes), sliceBytes / 8);
            seg.putIfUnchanged(sliceOffset, words, generation);
        }
        return words;
    }

    /**
     * Replaces the slice at {@code sliceOffset} with {@code words}, which the caller already wrote
     * to disk.
     */
    void update(long sliceOffset, Qcow2L2Slice words) {
        segment(sliceOffset).replace(sliceOffset, words);
    }

    /**
     * Replaces the slice at {@code sliceOffset} with {@code words}, which are newer than the disk:
     * the slice stays cached until {@link #unpin}.
     */
    void updatePinned(long sliceOffset, Qcow2L2Slice words) {
        segment(sliceOffset).pin(sliceOffset, words);
    }

    /** The slice at {@code sliceOffset} reached the disk: it may be evicted again. */
    void unpin(long sliceOffset) {
        segment(sliceOffset).unpin(sliceOffset);
    }

    private Segment segment(long sliceOffset) {
        return segments[(int) (mix(sliceOffset) & (SEGMENTS - 1))];
    }

    private static long mix(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return h ^ (h >>> 29);
    }

    /** One independently locked LRU segment, plus the pinned slices it must not evict. */
    private static final class Segment {
        private final LinkedHashMap<Long, Qcow2L2Slice> map;
        private final Map<Long, Qcow2L2Slice> pinned = new HashMap<>();
        private long generation;

        Segment(int capacity) {
            this.map = new LinkedHashMap<>(16, 0.75f, true) {
                private static final long serialVersionUID = 1L;

                @Override
                protected boolean removeEldestEntry(Map.Entry<Long, Qcow2L2Slice> eldest) {
                    return size() > capacity;
                }
            };
        }

        synchronized Qcow2L2Slice get(long key) {
            // Pinned slices exist only while a writer holds unwritten L2 entries.
            Qcow2L2Slice words = pinned.isEmpty() ? null : pinned.get(key);
            return words != null ? words : map.get(key);
        }

        synchronized long generation() {
            return generation;
        }

        synchronized void putIfUnchanged(long key, Qcow2L2Slice words, long seen) {
            if (generation == seen) {
                map.put(key, words);
            }
        }

        synchronized void replace(long key, Qcow2L2Slice words) {
            generation++;
            pinned.remove(key);
            map.put(key, words);
        }

        synchronized void pin(long key, Qcow2L2Slice words) {
            generation++;
            pinned.put(key, words);
            map.put(key, words);
        }

        synchronized void unpin(long key) {
            Qcow2L2Slice words = pinned.remove(key);
            if (words != null) {
                map.put(key, words);
            }
        }
    }
}
