package dev.strata.engine.format.qcow2;

/*
 * Design note: the L2 cache hands readers slices without a lock, so a published slice never
 * changes; a writer edits a copy and publishes that. A slice is up to a cluster (2 MiB of words
 * at most), and a write usually changes a few entries, so copying the whole slice per write made
 * a 64 KiB array per request: a gigabyte of garbage for 20000 small writes. Here a slice is held
 * in 4 KiB parts; an edit copies the table of parts and then only the parts it changes, so an
 * edit costs one 4 KiB copy however large the slice.
 */

import java.nio.ByteBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;

/** The 64-bit words of one L2 table slice, as on disk. Immutable, hence safe to share. */
final class Qcow2L2Slice {
    private static final int PART_BITS = 9;
    /** Words per part (4 KiB); a smaller slice is one part. */
    private static final int PART_WORDS = 1 << PART_BITS;
    private static final int PART_MASK = PART_WORDS - 1;

    private final long[][] parts;
    private final int words;

    private Qcow2L2Slice(long[][] parts, int words) {
        this.parts = parts;
        this.words = words;
    }

    /** A slice of {@code words} zero words. */
    static Qcow2L2Slice zeroed(int words) {
        long[][] parts = new long[partCount(words)][];
        for (int p = 0; p < parts.length; p++) {
            parts[p] = new long[Math.min(PART_WORDS, words - (p << PART_BITS))];
        }
        return new Qcow2L2Slice(parts, words);
    }

    /** The slice of {@code words} words read from {@code src} (big-endian, at its position). */
    static Qcow2L2Slice read(ByteBuffer src, int words) {
        Qcow2L2Slice slice = zeroed(words);
        LongBuffer in = src.asLongBuffer();
        for (long[] part : slice.parts) {
            in.get(part);
        }
        return slice;
    }

    /** The slice holding a copy of {@code words} words of {@code src} from {@code from} on. */
    static Qcow2L2Slice copyOf(long[] src, int from, int words) {
        Qcow2L2Slice slice = zeroed(words);
        for (int p = 0; p < slice.parts.length; p++) {
            System.arraycopy(src, from + (p << PART_BITS), slice.parts[p], 0, slice.parts[p].length);
        }
        return slice;
    }

    private static int partCount(int words) {
        return (words + PART_MASK) >>> PART_BITS;
    }

    /** Number of words. */
    int words() {
        return words;
    }

    /** Word {@code i}. */
    long word(int i) {
        return parts[i >>> PART_BITS][i & PART_MASK];
    }

    /** Puts words [from, to) into {@code dst} (big-endian) at its position, which it leaves unchanged. */
    void put(ByteBuffer dst, int from, int to) {
        LongBuffer out = dst.asLongBuffer();
        int i = from;
        while (i < to) {
            int p = i >>> PART_BITS;
            int at = i & PART_MASK;
            int n = Math.min(to - i, parts[p].length - at);
            out.put(parts[p], at, n);
            i += n;
        }
    }

    /** Whether this slice and {@code other} share the part holding word {@code i} (for tests). */
    boolean sharesPartWith(Qcow2L2Slice other, int i) {
        return parts[i >>> PART_BITS] == other.parts[i >>> PART_BITS];
    }

    /** Starts a changed copy; this slice stays as it is. */
    Edit edit() {
        return new Edit(this);
    }

    /**
     * A copy of a slice being changed by one thread. It copies a part on the first change to it
     * and shares the others with the original.
     */
    static final class Edit {
        private final long[][] parts;
        private final boolean[] own;
        private final int words;

        private Edit(Qcow2L2Slice base) {
            this.parts = base.parts.clone();
            this.own = new boolean[parts.length];
            this.words = base.words;
        }

        /** Word {@code i}, as changed so far. */
        long word(int i) {
            return parts[i >>> PART_BITS][i & PART_MASK];
        }

        /** Sets word {@code i}. */
        void set(int i, long value) {
            int p = i >>> PART_BITS;
            if (!own[p]) {
                parts[p] = parts[p].clone();
                own[p] = true;
            }
            parts[p][i & PART_MASK] = value;
        }

        /**
         * The slice as changed so far. Later changes to this edit copy their parts again, so
         * they never reach the slice returned.
         */
        Qcow2L2Slice done() {
            Arrays.fill(own, false);
            return new Qcow2L2Slice(parts.clone(), words);
        }
    }
}
