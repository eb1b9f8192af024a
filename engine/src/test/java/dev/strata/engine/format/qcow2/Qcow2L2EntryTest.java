package dev.strata.engine.format.qcow2;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Decoding of L2 entries, byte-exact against the spec's formulas. */
class Qcow2L2EntryTest {
    @Test
    void standardEntry() {
        Qcow2L2Entry e = new Qcow2L2Entry(Qcow2L2Entry.OFLAG_COPIED | 0x50000L, 0);
        assertTrue(e.isCopied());
        assertFalse(e.isCompressed());
        assertFalse(e.zeroFlag());
        assertEquals(0x50000L, e.hostOffset());
        assertEquals(Qcow2SubclusterType.NORMAL, e.clusterType(false, false));
        assertEquals(Qcow2SubclusterType.ZERO_ALLOC, new Qcow2L2Entry(0x50001L, 0).clusterType(false, false));
        assertEquals(Qcow2SubclusterType.ZERO_PLAIN, new Qcow2L2Entry(1, 0).clusterType(false, false));
        assertEquals(Qcow2SubclusterType.UNALLOCATED_PLAIN, new Qcow2L2Entry(0, 0).clusterType(false, false));
    }

    @Test
    void externalDataFileOffsetZeroWithCopiedIsACluster() {
        Qcow2L2Entry e = new Qcow2L2Entry(Qcow2L2Entry.OFLAG_COPIED, 0);
        assertEquals(Qcow2SubclusterType.NORMAL, e.clusterType(false, true));
        assertEquals(Qcow2SubclusterType.UNALLOCATED_PLAIN, e.clusterType(false, false));
    }

    @Test
    void compressedDescriptor() {
        // 64 KiB clusters: x = 62 - (16 - 8) = 54; offset in bits 0..53, extra sectors in 54..61.
        long offset = 0x123456L + 100;
        long extraSectors = 3;
        Qcow2L2Entry e = new Qcow2L2Entry(Qcow2L2Entry.OFLAG_COMPRESSED | extraSectors << 54 | offset, 0);
        assertTrue(e.isCompressed());
        assertEquals(54, Qcow2L2Entry.compressedSizeShift(16));
        assertEquals(offset, e.compressedHostOffset(16));
        assertEquals((extraSectors + 1) * 512 - (offset & 511), e.compressedSize(16));
        assertEquals(Qcow2SubclusterType.COMPRESSED, e.clusterType(true, false));
        assertEquals(Qcow2SubclusterType.COMPRESSED, e.subclusterType(5, true, false));
        assertEquals(27, e.subclusterRun(5, true, false));
        // 2 MiB clusters: x = 49, 13 bits of sector count.
        Qcow2L2Entry big = new Qcow2L2Entry(Qcow2L2Entry.OFLAG_COMPRESSED | 0x1fffL << 49 | 512, 0);
        assertEquals(512, big.compressedHostOffset(21));
        assertEquals(0x2000L * 512, big.compressedSize(21));
    }

    @Test
    void subclusterBitmaps() {
        // Subclusters 0-3 allocated, 4-5 zero, 6.. unallocated, on an allocated cluster.
        long bitmap = 0xfL | 0x30L << 32;
        Qcow2L2Entry e = new Qcow2L2Entry(Qcow2L2Entry.OFLAG_COPIED | 0x70000L, bitmap);
        assertEquals(0xf, e.allocBitmap());
        assertEquals(0x30, e.zeroBitmap());
        assertEquals(Qcow2SubclusterType.NORMAL, e.subclusterType(0, true, false));
        assertEquals(4, e.subclusterRun(0, true, false));
        assertEquals(2, e.subclusterRun(2, true, false));
        assertEquals(Qcow2SubclusterType.ZERO_ALLOC, e.subclusterType(4, true, false));
        assertEquals(2, e.subclusterRun(4, true, false));
        assertEquals(Qcow2SubclusterType.UNALLOCATED_ALLOC, e.subclusterType(6, true, false));
        assertEquals(26, e.subclusterRun(6, true, false));
        // Without a host cluster: zero subclusters are ZERO_PLAIN.
        Qcow2L2Entry plain = new Qcow2L2Entry(0, 0xffffffffL << 32);
        assertEquals(Qcow2SubclusterType.ZERO_PLAIN, plain.subclusterType(31, true, false));
        assertEquals(32, plain.subclusterRun(0, true, false));
        // The zero flag (bit 0) means nothing with extended L2 entries.
        assertEquals(Qcow2SubclusterType.UNALLOCATED_PLAIN, new Qcow2L2Entry(1, 0).subclusterType(0, true, false));
    }

    @Test
    void invalidCombinations() {
        Qcow2L2Entry both = new Qcow2L2Entry(0x70000L, 1L | 1L << 32);
        assertEquals(Qcow2SubclusterType.INVALID, both.subclusterType(0, true, false));
        assertEquals(-1, both.subclusterRun(0, true, false));
        Qcow2L2Entry allocWithoutCluster = new Qcow2L2Entry(0, 1L);
        assertEquals(Qcow2SubclusterType.INVALID, allocWithoutCluster.subclusterType(3, true, false));
    }

    @Test
    void cacheGeometryFollowsQemuDefaults() {
        assertEquals(65536, geometry(16, 1L << 30).sliceBytes()); // 1 GiB: 128 KiB of L2 covers it
        assertEquals(4096, geometry(16, 1L << 42).sliceBytes()); // 4 TiB: needs 64 MiB > 32 MiB
        assertEquals(512, geometry(9, 1L << 40).sliceBytes());
    }

    private static Qcow2L2Cache geometry(int clusterBits, long size) {
        Qcow2Header h = new Qcow2Header(3, 0, 0, clusterBits, size, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 4, 112, 0, null,
                java.util.List.of());
        return Qcow2L2Cache.forImage(null, h);
    }
}
