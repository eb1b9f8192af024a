package dev.strata.engine.format.qcow2;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** L2 slices: words as on disk, and edits that leave the published slice alone. */
class Qcow2L2SliceTest {
    /** A 64 KiB cluster's slice: 8192 words, 16 parts. */
    private static final int WORDS = 8192;

    private static Qcow2L2Slice numbered(int words) {
        ByteBuffer b = ByteBuffer.allocate(words * 8);
        for (int i = 0; i < words; i++) {
            b.putLong(i * 8, 0x8000_0000_0000_0000L | (long) i << 16);
        }
        return Qcow2L2Slice.read(b, words);
    }

    @Test
    void readsBigEndianWordsAndPutsThemBackByteForByte() {
        ByteBuffer disk = ByteBuffer.allocate(WORDS * 8);
        for (int i = 0; i < disk.capacity(); i++) {
            disk.put(i, (byte) (i * 31 + 7));
        }
        Qcow2L2Slice slice = Qcow2L2Slice.read(disk.duplicate(), WORDS);
        assertEquals(WORDS, slice.words());
        assertEquals(disk.getLong(4096 * 8 + 8), slice.word(4097));
        // a range crossing a part boundary, put at a non-zero position of the target
        ByteBuffer out = ByteBuffer.allocate(8 + 20 * 8);
        out.position(8);
        slice.put(out, 500, 520);
        assertEquals(8, out.position());
        byte[] expected = new byte[20 * 8];
        disk.get(500 * 8, expected);
        byte[] got = new byte[20 * 8];
        out.get(8, got);
        assertArrayEquals(expected, got);
    }

    @Test
    void anEditChangesACopyAndSharesTheUntouchedParts() {
        Qcow2L2Slice original = numbered(WORDS);
        Qcow2L2Slice.Edit edit = original.edit();
        edit.set(513, 42);
        edit.set(8191, 43);
        assertEquals(42, edit.word(513));
        Qcow2L2Slice changed = edit.done();

        assertEquals(42, changed.word(513));
        assertEquals(43, changed.word(8191));
        assertEquals(original.word(514), changed.word(514));
        assertEquals(0x8000_0000_0000_0000L | 513L << 16, original.word(513));
        assertEquals(0x8000_0000_0000_0000L | 8191L << 16, original.word(8191));
        assertFalse(changed.sharesPartWith(original, 513));
        assertFalse(changed.sharesPartWith(original, 8191));
        for (int i = 0; i < WORDS; i += 512) {
            if (i / 512 != 1 && i / 512 != 15) {
                assertTrue(changed.sharesPartWith(original, i), "part " + i / 512);
            }
        }
    }

    @Test
    void changesAfterDoneNeverReachTheSliceAlreadyReturned() {
        Qcow2L2Slice.Edit edit = numbered(WORDS).edit();
        edit.set(3, 1);
        Qcow2L2Slice first = edit.done();
        edit.set(3, 2);
        edit.set(4, 3);
        Qcow2L2Slice second = edit.done();
        assertEquals(1, first.word(3));
        assertEquals(0x8000_0000_0000_0000L | 4L << 16, first.word(4));
        assertEquals(2, second.word(3));
        assertEquals(3, second.word(4));
    }

    @Test
    void slicesSmallerThanAPartAndCopiesOfATable() {
        // 512-byte clusters: a slice of 64 words
        Qcow2L2Slice small = numbered(64);
        Qcow2L2Slice.Edit edit = small.edit();
        edit.set(63, 7);
        assertEquals(7, edit.done().word(63));
        assertEquals(0x8000_0000_0000_0000L | 63L << 16, small.word(63));

        long[] table = new long[3 * 1024];
        for (int i = 0; i < table.length; i++) {
            table[i] = i;
        }
        Qcow2L2Slice second = Qcow2L2Slice.copyOf(table, 1024, 1024);
        assertEquals(1024, second.words());
        assertEquals(1024, second.word(0));
        assertEquals(2047, second.word(1023));
        table[1024] = -1;
        assertEquals(1024, second.word(0));
        assertEquals(0, Qcow2L2Slice.zeroed(1000).word(999));
    }
}
