package dev.strata.engine.format.qcow2.check;

/*
 * Design note: the in-memory refcount table the checker builds by counting every reference it
 * finds (qemu's IMRT). qemu sizes it from the host file length and lets it grow by the one
 * cluster that a reference reaching at most one cluster past EOF may add; we do the same, so a
 * header that lies about table sizes cannot make us allocate more than the file justifies.
 *
 * Storage is paged and sparse: a page of byte counters is allocated on the first reference into
 * it, so memory follows the clusters actually referenced, not the file length. A counter
 * saturates at 255 and the exact value then lives in an overflow map (refcounts above 254 are
 * rare: only heavily shared clusters of images with many snapshots have them).
 */

import java.util.HashMap;
import java.util.Map;

/** Reference counts recomputed from the image metadata, one per host cluster. */
final class ComputedRefcounts {
    private static final int PAGE_BITS = 16;
    private static final int PAGE_SIZE = 1 << PAGE_BITS;
    private static final int ESCAPE = 0xff;

    private final long refcountMax;
    private byte[][] pages;
    private long size;
    private final Map<Long, Long> large = new HashMap<>();

    /**
     * @param clusters    initial number of clusters (the file length in clusters)
     * @param refcountMax largest refcount the image's refcount width can hold
     */
    ComputedRefcounts(long clusters, long refcountMax) {
        this.refcountMax = refcountMax;
        this.size = clusters;
        this.pages = new byte[pageCount(clusters)][];
    }

    private static int pageCount(long clusters) {
        return (int) ((clusters + PAGE_SIZE - 1) >>> PAGE_BITS);
    }

    /** Number of clusters covered (grows by {@link #ensure}). */
    long size() {
        return size;
    }

    /**
     * Sets the number of clusters covered to exactly {@code clusters} (qemu's
     * realloc_refcount_array); never shrinks below what is already stored, so growing only.
     */
    void resize(long clusters) {
        if (clusters > size) {
            ensure(clusters - 1);
        }
    }

    /** Forgets every count (qemu's memset of the IMRT before it recounts), keeping the size. */
    void clear() {
        pages = new byte[pages.length][];
        large.clear();
    }

    /**
     * Sets the count of cluster {@code index}, which must be covered and is at most the width's
     * maximum (qemu's set_refcount on the IMRT, used when the rebuild allocates).
     */
    void set(long index, long value) {
        int p = (int) (index >>> PAGE_BITS);
        byte[] page = pages[p];
        if (page == null) {
            if (value == 0) {
                return;
            }
            page = new byte[PAGE_SIZE];
            pages[p] = page;
        }
        int slot = (int) (index & (PAGE_SIZE - 1));
        if (value >= ESCAPE) {
            page[slot] = (byte) ESCAPE;
            large.put(index, value);
        } else {
            page[slot] = (byte) value;
            large.remove(index);
        }
    }

    /** Makes the table cover cluster {@code index}. */
    void ensure(long index) {
        if (index < size) {
            return;
        }
        size = index + 1;
        int need = pageCount(size);
        if (need > pages.length) {
            byte[][] grown = new byte[need][];
            System.arraycopy(pages, 0, grown, 0, pages.length);
            pages = grown;
        }
    }

    /** The count of cluster {@code index} (0 when not covered). */
    long get(long index) {
        if (index < 0 || index >= size) {
            return 0;
        }
        byte[] page = pages[(int) (index >>> PAGE_BITS)];
        if (page == null) {
            return 0;
        }
        int v = page[(int) (index & (PAGE_SIZE - 1))] & 0xff;
        return v == ESCAPE ? large.get(index) : v;
    }

    /**
     * Adds one reference to cluster {@code index} (which must be covered).
     *
     * @return false, leaving the count unchanged, when it is already at the width's maximum
     */
    boolean increment(long index) {
        long current = get(index);
        if (current == refcountMax) {
            return false;
        }
        int p = (int) (index >>> PAGE_BITS);
        byte[] page = pages[p];
        if (page == null) {
            page = new byte[PAGE_SIZE];
            pages[p] = page;
        }
        long next = current + 1;
        int slot = (int) (index & (PAGE_SIZE - 1));
        if (next >= ESCAPE) {
            page[slot] = (byte) ESCAPE;
            large.put(index, next);
        } else {
            page[slot] = (byte) next;
        }
        return true;
    }
}
