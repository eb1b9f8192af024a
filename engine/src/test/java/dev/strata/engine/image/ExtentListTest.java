package dev.strata.engine.image;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ExtentListTest {
    private static Extent data(long start, long len, long off) {
        return new Extent(start, len, 0, true, false, true, false, off, "f");
    }

    @Test
    void contiguousHostRangesMerge() {
        ExtentList l = new ExtentList();
        l.add(data(0, 10, 100));
        l.add(data(10, 5, 110));
        assertEquals(List.of(data(0, 15, 100)), l.toList());
    }

    @Test
    void discontiguousHostRangesStaySeparate() {
        ExtentList l = new ExtentList();
        l.add(data(0, 10, 100));
        l.add(data(10, 5, 200));
        assertEquals(2, l.toList().size());
    }

    @Test
    void differentDepthOrFlagsStaySeparate() {
        ExtentList l = new ExtentList();
        l.add(new Extent(0, 10, 0, false, true, false, false, -1, null));
        l.add(new Extent(10, 10, 1, false, true, false, false, -1, null));
        l.add(new Extent(20, 10, 1, true, true, false, false, -1, null));
        l.add(new Extent(30, 10, 1, true, true, false, false, -1, null));
        assertEquals(3, l.toList().size());
        assertEquals(20, l.toList().get(2).length());
    }

    @Test
    void gapsAreRejected() {
        ExtentList l = new ExtentList();
        l.add(data(0, 10, 100));
        assertThrows(IllegalArgumentException.class, () -> l.add(data(11, 5, 111)));
    }

    @Test
    void clipMovesTheHostOffset() {
        assertEquals(data(5, 3, 105), data(0, 10, 100).clip(5, 8));
    }
}
