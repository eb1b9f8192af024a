package dev.strata.engine.image;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DirtyBitmapTest {
    @Test
    void setMarksEveryOverlappedChunkAndClipsAtTheSize() {
        DirtyBitmap b = new DirtyBitmap(10 * 65536 + 100, 65536);
        assertEquals(11, b.bitCount());
        b.set(65535, 2);
        assertFalse(b.get(0) && !b.get(65535));
        assertTrue(b.get(0));
        assertTrue(b.get(65536));
        assertFalse(b.get(2 * 65536));
        b.set(10 * 65536 + 50, 1L << 40);
        assertTrue(b.get(10 * 65536 + 99));
        assertFalse(b.get(10 * 65536 + 100));
        assertEquals(3, b.dirtyBits());
        b.reset(0, 65536);
        assertFalse(b.get(0));
        assertEquals(2, b.dirtyBits());
    }

    @Test
    void runsWalkTheExtentsOfASparseLargeBitmap() {
        long size = 1L << 40;
        DirtyBitmap b = new DirtyBitmap(size, 512);
        b.set(5L << 30, 4096);
        b.set((1L << 40) - 512, 512);
        assertEquals(new DirtyBitmap.Run(0, 5L << 30, false), b.runAt(0, Long.MAX_VALUE));
        assertEquals(new DirtyBitmap.Run(5L << 30, 4096, true), b.runAt(5L << 30, Long.MAX_VALUE));
        assertEquals(new DirtyBitmap.Run((5L << 30) + 4096, size - 512 - (5L << 30) - 4096, false),
                b.runAt((5L << 30) + 4096, Long.MAX_VALUE));
        assertEquals(new DirtyBitmap.Run(size - 512, 512, true), b.runAt(size - 512, Long.MAX_VALUE));
        assertEquals(new DirtyBitmap.Run(100, 50, false), b.runAt(100, 50));
        assertEquals(size, b.nextClean(size - 512));
        assertEquals(-1, b.nextDirty(size - 511 + 512));
        assertEquals((5L << 30) + 10, b.nextDirty((5L << 30) + 10));
    }

    @Test
    void nextDirtyAndNextCleanAgreeWithGetOnRandomBitmaps() {
        Random r = new Random(7);
        for (int round = 0; round < 30; round++) {
            long size = 1 + r.nextInt(1 << 22);
            DirtyBitmap b = new DirtyBitmap(size, 1L << (9 + r.nextInt(4)));
            for (int i = 0; i < r.nextInt(40); i++) {
                long off = r.nextLong(size);
                long len = 1 + r.nextLong(Math.max(1, size / (1 + r.nextInt(50))));
                if (r.nextInt(4) == 0) {
                    b.reset(off & ~(b.granularity() - 1), len);
                } else {
                    b.set(off, len);
                }
            }
            long pos = 0;
            long dirtyBits = 0;
            while (pos < size) {
                DirtyBitmap.Run run = b.runAt(pos, Long.MAX_VALUE);
                assertTrue(run.length() > 0);
                for (long p = run.offset(); p < run.end(); p += b.granularity() / 2) {
                    assertEquals(run.dirty(), b.get(p), "at " + p);
                }
                if (run.end() < size) {
                    assertEquals(!run.dirty(), b.get(run.end()));
                }
                if (run.dirty()) {
                    dirtyBits += ((run.end() - 1) >>> b.granularityBits()) - (run.offset() >>> b.granularityBits()) + 1;
                }
                pos = run.end();
            }
            assertEquals(b.dirtyBits(), dirtyBits);
        }
    }

    @Test
    void serialisationIsLittleEndianWordsAndRoundTrips() {
        DirtyBitmap b = new DirtyBitmap(200 * 512, 512);
        b.set(0, 512);
        b.set(9 * 512, 512);
        b.set(64 * 512, 512);
        byte[] out = new byte[32];
        b.serialize(0, b.bitCount(), out, 0);
        byte[] expected = new byte[32];
        expected[0] = 1;
        expected[1] = 2;
        expected[8] = 1;
        assertArrayEquals(expected, out);
        DirtyBitmap c = new DirtyBitmap(200 * 512, 512);
        c.deserialize(0, c.bitCount(), out, 0);
        assertEquals(b, c);
    }

    @Test
    void mergeAcrossGranularitiesCoversTheSourceRanges() {
        DirtyBitmap src = new DirtyBitmap(1 << 20, 512);
        src.set(70000, 10);
        DirtyBitmap dst = new DirtyBitmap(1 << 20, 65536);
        dst.merge(src);
        assertTrue(dst.get(65536));
        assertEquals(1, dst.dirtyBits());
        DirtyBitmap fine = new DirtyBitmap(1 << 20, 512);
        fine.merge(dst);
        assertEquals(128, fine.dirtyBits());
        assertTrue(fine.get(65536) && fine.get(131071) && !fine.get(131072));
    }

    @Test
    void fillBitsStopsAtTheEnd() {
        DirtyBitmap b = new DirtyBitmap(1000, 512);
        b.fillBits(0, 1 << 20, true);
        assertEquals(2, b.dirtyBits());
        assertEquals(1000, b.nextClean(0));
        b.clear();
        assertTrue(b.isEmpty());
    }
}
