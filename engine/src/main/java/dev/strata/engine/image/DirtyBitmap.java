package dev.strata.engine.image;

/*
 * Design note: a dirty bitmap over a guest disk, as qemu's HBitmap keeps it: one bit per
 * granularity-sized chunk of the disk (the last chunk may be partial), set when any byte of the
 * chunk was written. Setting or resetting a byte range touches every chunk the range overlaps,
 * as hbitmap_set/hbitmap_reset do (qemu asserts reset ranges are aligned; we round outward too).
 *
 * Storage is flat (one long per 64 chunks, like qemu's last HBitmap level) plus a summary level
 * with one bit per word that holds any dirty bit and one bit per word that holds any clean bit.
 * The summaries make the extent walk (nextDirty / nextClean) skip 4096 chunks per summary
 * word, so a mostly clean (or mostly dirty) bitmap of a large disk is walked in time proportional
 * to its number of extents, not its size.
 *
 * Thread safety: all methods are synchronized; the NBD server may read while writes mark.
 */

import java.util.Arrays;

/** A dirty bitmap over {@code size} bytes of guest disk at a power-of-two granularity. */
public final class DirtyBitmap {
    private final long size;
    private final int granularityBits;
    private final long bits;
    private final long[] words;
    /** Bit w set: words[w] != 0. */
    private final long[] anyDirty;
    /** Bit w set: words[w] has a clean bit among the bitmap's bits. */
    private final long[] anyClean;

    /**
     * An all-clean bitmap.
     *
     * @param size        guest bytes covered (may be 0)
     * @param granularity bytes per bit, a power of two from 1 to 2^62
     * @throws IllegalArgumentException when the granularity is not a power of two or the bitmap
     *                                  would need more than 2^37 bits
     */
    public DirtyBitmap(long size, long granularity) {
        if (granularity <= 0 || Long.bitCount(granularity) != 1 || size < 0) {
            throw new IllegalArgumentException("granularity must be a power of two: " + granularity);
        }
        this.size = size;
        this.granularityBits = Long.numberOfTrailingZeros(granularity);
        this.bits = size == 0 ? 0 : ((size - 1) >>> granularityBits) + 1;
        long nWords = (bits + 63) >>> 6;
        if (nWords > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("bitmap too large: " + bits + " bits");
        }
        this.words = new long[(int) nWords];
        this.anyDirty = new long[(words.length + 63) >>> 6];
        this.anyClean = new long[anyDirty.length];
        for (int w = 0; w < words.length; w++) {
            anyClean[w >>> 6] |= 1L << w;
        }
    }

    /** Guest bytes covered. */
    public long size() {
        return size;
    }

    /** Bytes per bit. */
    public long granularity() {
        return 1L << granularityBits;
    }

    /** log2 of the granularity. */
    public int granularityBits() {
        return granularityBits;
    }

    /** Number of bits (chunks). */
    public long bitCount() {
        return bits;
    }

    /** Marks every chunk that {@code [offset, offset + length)} overlaps dirty (clipped to the size). */
    public synchronized void set(long offset, long length) {
        change(offset, length, true);
    }

    /** Marks every chunk that {@code [offset, offset + length)} overlaps clean (clipped to the size). */
    public synchronized void reset(long offset, long length) {
        change(offset, length, false);
    }

    /** Marks the whole bitmap clean (qemu's bdrv_clear_dirty_bitmap). */
    public synchronized void clear() {
        change(0, size, false);
    }

    /** Whether the chunk holding guest byte {@code offset} is dirty (false past the size). */
    public synchronized boolean get(long offset) {
        if (offset < 0 || offset >= size) {
            return false;
        }
        return getBit(offset >>> granularityBits);
    }

    /** Whether bit {@code bit} (chunk index) is set. */
    public synchronized boolean getBit(long bit) {
        return (words[(int) (bit >>> 6)] & (1L << bit)) != 0;
    }

    /** Sets or clears bit {@code bit} (chunk index). */
    public synchronized void setBit(long bit, boolean dirty) {
        changeBits(bit, bit + 1, dirty);
    }

    /** Whether no bit is set. */
    public synchronized boolean isEmpty() {
        for (long s : anyDirty) {
            if (s != 0) {
                return false;
            }
        }
        return true;
    }

    /** Number of dirty bits. */
    public synchronized long dirtyBits() {
        long n = 0;
        for (long w : words) {
            n += Long.bitCount(w);
        }
        return n;
    }

    /**
     * The guest offset of the first dirty chunk at or after the chunk holding {@code from}
     * (never below {@code from}), or -1 when there is none.
     */
    public synchronized long nextDirty(long from) {
        if (from >= size) {
            return -1;
        }
        long bit = find(Math.max(0, from) >>> granularityBits, true);
        return bit < 0 ? -1 : Math.max(from, bit << granularityBits);
    }

    /**
     * The guest offset of the first clean chunk at or after the chunk holding {@code from}
     * (never below {@code from}), or {@link #size()} when every chunk from there is dirty.
     */
    public synchronized long nextClean(long from) {
        if (from >= size) {
            return size;
        }
        long bit = find(Math.max(0, from) >>> granularityBits, false);
        return bit < 0 ? size : Math.max(from, bit << granularityBits);
    }

    /**
     * One extent of equal state.
     *
     * @param offset first guest byte
     * @param length bytes, at least 1
     * @param dirty  whether the chunks are dirty
     */
    public record Run(long offset, long length, boolean dirty) {
        /** End of the extent (exclusive). */
        public long end() {
            return offset + length;
        }
    }

    /**
     * The extent of equal state that starts at {@code offset} and ends where the state changes,
     * at the size, or after {@code maxLength} bytes, whichever comes first.
     *
     * @throws IllegalArgumentException when {@code offset} is outside [0, size) or maxLength &lt; 1
     */
    public synchronized Run runAt(long offset, long maxLength) {
        if (offset < 0 || offset >= size || maxLength < 1) {
            throw new IllegalArgumentException("offset " + offset + " outside the bitmap of " + size + " bytes");
        }
        boolean dirty = get(offset);
        long end = dirty ? nextClean(offset) : nextDirty(offset);
        if (end < 0) {
            end = size;
        }
        long limit = offset + Math.min(maxLength, size - offset);
        return new Run(offset, Math.min(end, limit) - offset, dirty);
    }

    /**
     * Sets every chunk of this bitmap that overlaps a dirty chunk of {@code source} (qemu's
     * hbitmap_merge; granularities may differ, sizes should be equal).
     */
    public void merge(DirtyBitmap source) {
        if (source == this) {
            return;
        }
        DirtyBitmap snapshot;
        synchronized (source) {
            snapshot = source.copy();
        }
        synchronized (this) {
            long pos = snapshot.nextDirty(0);
            while (pos >= 0) {
                long end = snapshot.nextClean(pos);
                change(pos, end - pos, true);
                pos = end >= snapshot.size ? -1 : snapshot.nextDirty(end);
            }
        }
    }

    /** An independent copy. */
    public synchronized DirtyBitmap copy() {
        DirtyBitmap c = new DirtyBitmap(size, 1L << granularityBits);
        System.arraycopy(words, 0, c.words, 0, words.length);
        System.arraycopy(anyDirty, 0, c.anyDirty, 0, anyDirty.length);
        System.arraycopy(anyClean, 0, c.anyClean, 0, anyClean.length);
        return c;
    }

    /**
     * qemu's hbitmap_serialize_part: the bits {@code [firstBit, firstBit + count)} as
     * little-endian 64-bit words (bit i of the range is bit i%8 of byte i/8), {@code firstBit}
     * a multiple of 64. Writes {@code ceil(count / 64) * 8} bytes into {@code dst} at
     * {@code dstOffset}.
     */
    public synchronized void serialize(long firstBit, long count, byte[] dst, int dstOffset) {
        int w0 = (int) (firstBit >>> 6);
        int n = (int) ((count + 63) >>> 6);
        for (int i = 0; i < n; i++) {
            long v = w0 + i < words.length ? words[w0 + i] : 0;
            for (int b = 0; b < 8; b++) {
                dst[dstOffset + i * 8 + b] = (byte) (v >>> (b * 8));
            }
        }
    }

    /**
     * qemu's hbitmap_deserialize_part: sets bits {@code [firstBit, firstBit + count)} from
     * little-endian words in {@code src} (the reverse of {@link #serialize}); bits past the
     * bitmap's end are ignored.
     */
    public synchronized void deserialize(long firstBit, long count, byte[] src, int srcOffset) {
        int w0 = (int) (firstBit >>> 6);
        int n = (int) ((count + 63) >>> 6);
        for (int i = 0; i < n && w0 + i < words.length; i++) {
            long v = 0;
            for (int b = 7; b >= 0; b--) {
                v = (v << 8) | (src[srcOffset + i * 8 + b] & 0xffL);
            }
            long lastBit = Math.min(firstBit + count, bits);
            long wordStart = (long) (w0 + i) << 6;
            if (lastBit - wordStart < 64) {
                v &= (1L << (lastBit - wordStart)) - 1;
            }
            words[w0 + i] = v;
            summarize(w0 + i);
        }
    }

    /** Sets or clears bits {@code [firstBit, firstBit + count)} (qemu's deserialize_ones / zeroes). */
    public synchronized void fillBits(long firstBit, long count, boolean dirty) {
        changeBits(firstBit, Math.min(bits, firstBit + count), dirty);
    }

    private void change(long offset, long length, boolean dirty) {
        if (length <= 0 || offset >= size) {
            return;
        }
        long from = Math.max(0, offset) >>> granularityBits;
        long last = (Math.min(size, offset + length) - 1) >>> granularityBits;
        changeBits(from, last + 1, dirty);
    }

    private void changeBits(long from, long to, boolean dirty) {
        if (from >= to) {
            return;
        }
        int w0 = (int) (from >>> 6);
        int w1 = (int) ((to - 1) >>> 6);
        for (int w = w0; w <= w1; w++) {
            long lo = w == w0 ? (from & 63) : 0;
            long hi = w == w1 ? ((to - 1) & 63) : 63;
            long mask = (hi == 63 ? -1L : (1L << (hi + 1)) - 1) & (-1L << lo);
            if (dirty) {
                words[w] |= mask;
            } else {
                words[w] &= ~mask;
            }
            summarize(w);
        }
    }

    private void summarize(int w) {
        long bit = 1L << w;
        if (words[w] != 0) {
            anyDirty[w >>> 6] |= bit;
        } else {
            anyDirty[w >>> 6] &= ~bit;
        }
        if (words[w] != validMask(w)) {
            anyClean[w >>> 6] |= bit;
        } else {
            anyClean[w >>> 6] &= ~bit;
        }
    }

    /** The bits of word {@code w} that lie inside the bitmap. */
    private long validMask(int w) {
        long valid = bits - ((long) w << 6);
        return valid >= 64 ? -1L : (1L << valid) - 1;
    }

    /** The first bit index at or after {@code bit} with state {@code dirty}, or -1. */
    private long find(long bit, boolean dirty) {
        if (bit >= bits) {
            return -1;
        }
        long[] summary = dirty ? anyDirty : anyClean;
        int w = (int) (bit >>> 6);
        long first = (dirty ? words[w] : ~words[w] & validMask(w)) & (-1L << (bit & 63));
        if (first != 0) {
            return ((long) w << 6) + Long.numberOfTrailingZeros(first);
        }
        int nextWord = w + 1;
        int s = nextWord >>> 6;
        if (s >= summary.length) {
            return -1;
        }
        long sw = summary[s] & (nextWord % 64 == 0 ? -1L : -1L << (nextWord & 63));
        while (sw == 0) {
            if (++s >= summary.length) {
                return -1;
            }
            sw = summary[s];
        }
        int found = (s << 6) + Long.numberOfTrailingZeros(sw);
        long v = dirty ? words[found] : ~words[found] & validMask(found);
        return ((long) found << 6) + Long.numberOfTrailingZeros(v);
    }

    @Override
    public synchronized boolean equals(Object o) {
        return o instanceof DirtyBitmap d && d.size == size && d.granularityBits == granularityBits
                && Arrays.equals(d.words, words);
    }

    @Override
    public synchronized int hashCode() {
        return Arrays.hashCode(words) * 31 + granularityBits;
    }

    @Override
    public String toString() {
        return "DirtyBitmap[size=" + size + ", granularity=" + granularity() + ", dirtyBits=" + dirtyBits() + "]";
    }
}
