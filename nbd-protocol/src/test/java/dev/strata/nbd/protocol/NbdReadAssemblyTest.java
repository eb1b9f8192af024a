package dev.strata.nbd.protocol;

import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Reassembly of structured READ replies: any order, no overlap, nothing outside the request. */
class NbdReadAssemblyTest {

    @Test
    void chunksInAnyOrderFillTheBuffer() {
        byte[] target = new byte[20];
        Arrays.fill(target, (byte) 0x55);
        ByteBuffer buffer = ByteBuffer.wrap(target, 2, 16); // position 2, 16 bytes remaining
        NbdReadAssembly assembly = new NbdReadAssembly(1000, buffer);
        assembly.data(1012, Unpooled.wrappedBuffer(new byte[] {9, 9, 9, 9}));
        assertFalse(assembly.complete());
        assembly.hole(1004, 8);
        assembly.data(1000, Unpooled.wrappedBuffer(new byte[] {1, 2, 3, 4}));
        assertTrue(assembly.complete());
        assertArrayEquals(new byte[] {0x55, 0x55, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 0x55, 0x55}, target);
        assertEquals(2, buffer.position(), "the caller's buffer position is untouched");
    }

    @Test
    void overlapAndOutOfRangeAreProtocolErrors() {
        NbdReadAssembly assembly = new NbdReadAssembly(0, ByteBuffer.allocate(16));
        assembly.data(4, Unpooled.wrappedBuffer(new byte[4]));
        assertThrows(NbdProtocolException.class, () -> assembly.hole(6, 4)); // overlaps [4,8) from after
        assertThrows(NbdProtocolException.class, () -> assembly.hole(0, 5)); // overlaps from before
        assertThrows(NbdProtocolException.class, () -> assembly.hole(4, 1)); // same start
        assertThrows(NbdProtocolException.class, () -> assembly.hole(12, 5)); // past the end
        assertThrows(NbdProtocolException.class, () -> assembly.hole(-1, 1)); // before the start
        assertThrows(NbdProtocolException.class, () -> assembly.hole(0, 1L << 32)); // huge
        assembly.hole(0, 4);
        assembly.hole(8, 8);
        assertTrue(assembly.complete());
    }
}
