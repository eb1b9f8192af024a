package dev.strata.engine.format.qcow2.check;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The in-memory recount table and the decoding of stored refcount blocks of every width. */
class RefcountArraysTest {

    @Test
    void countsAreExactBeyondOneByte() {
        ComputedRefcounts refs = new ComputedRefcounts(10, 0xffff);
        for (int i = 0; i < 1000; i++) {
            assertTrue(refs.increment(3));
        }
        assertEquals(1000, refs.get(3));
        assertEquals(0, refs.get(4));
        assertEquals(0, refs.get(99), "outside the table");
    }

    @Test
    void incrementStopsAtTheWidthMaximum() {
        ComputedRefcounts oneBit = new ComputedRefcounts(4, 1);
        assertTrue(oneBit.increment(0));
        assertFalse(oneBit.increment(0));
        assertEquals(1, oneBit.get(0));
        ComputedRefcounts twoBits = new ComputedRefcounts(4, 3);
        assertTrue(twoBits.increment(1));
        assertTrue(twoBits.increment(1));
        assertTrue(twoBits.increment(1));
        assertFalse(twoBits.increment(1));
        assertEquals(3, twoBits.get(1));
        ComputedRefcounts sixtyFour = new ComputedRefcounts(4, -1L);
        assertTrue(sixtyFour.increment(2));
        assertEquals(1, sixtyFour.get(2));
    }

    @Test
    void growsOneClusterAtATimeAndStaysSparse() {
        ComputedRefcounts refs = new ComputedRefcounts(1L << 30, 0xffff); // no page allocated yet
        assertEquals(1L << 30, refs.size());
        refs.ensure((1L << 30));
        assertEquals((1L << 30) + 1, refs.size());
        assertTrue(refs.increment(1L << 30));
        assertEquals(1, refs.get(1L << 30));
        assertEquals(0, refs.get(12345));
    }

    @Test
    void decodesEveryRefcountWidth() {
        byte[] block = {(byte) 0b1011_0110, (byte) 0x12, (byte) 0x34, (byte) 0x56, (byte) 0x78, (byte) 0x9a,
            (byte) 0xbc, (byte) 0xde, (byte) 0xf0};
        // 1 bit, LSB first
        assertEquals(0, StoredRefcounts.entry(block, 0, 0));
        assertEquals(1, StoredRefcounts.entry(block, 1, 0));
        assertEquals(1, StoredRefcounts.entry(block, 2, 0));
        assertEquals(0, StoredRefcounts.entry(block, 3, 0));
        assertEquals(1, StoredRefcounts.entry(block, 7, 0));
        // 2 bits
        assertEquals(0b10, StoredRefcounts.entry(block, 0, 1));
        assertEquals(0b01, StoredRefcounts.entry(block, 1, 1));
        assertEquals(0b11, StoredRefcounts.entry(block, 2, 1));
        assertEquals(0b10, StoredRefcounts.entry(block, 3, 1));
        // 4 bits, low nibble first
        assertEquals(0x6, StoredRefcounts.entry(block, 0, 2));
        assertEquals(0xb, StoredRefcounts.entry(block, 1, 2));
        assertEquals(0x2, StoredRefcounts.entry(block, 2, 2));
        // 8, 16, 32 bits big-endian
        assertEquals(0x12, StoredRefcounts.entry(block, 1, 3));
        assertEquals(0x3456, StoredRefcounts.entry(block, 1, 4));
        assertEquals(0x789abcdeL, StoredRefcounts.entry(block, 1, 5));
        assertEquals(0xf0debc9aL, StoredRefcounts.entry(new byte[] {(byte) 0xf0, (byte) 0xde, (byte) 0xbc,
            (byte) 0x9a}, 0, 5), "32-bit refcounts are unsigned");
        // 64 bits: unsigned values above 2^63 survive
        assertEquals(0xb6123456789abcdeL, StoredRefcounts.entry(block, 0, 6));
    }
}
