package dev.strata.engine.storage;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class IoBuffersTest {
    @Test
    void buffersStartOnAPageAndHaveExactlyTheSizeAsked() {
        for (int size : new int[] {0, 1, 100, 511, 4095, 4096, 4097, 65536, 1 << 20, (2 << 20) + 512}) {
            ByteBuffer b = IoBuffers.allocate(size);
            assertTrue(b.isDirect());
            assertEquals(0, b.alignmentOffset(0, IoBuffers.ALIGNMENT), "size " + size);
            assertEquals(size, b.capacity());
            assertEquals(size, b.limit());
            assertEquals(0, b.position());
            assertEquals(ByteOrder.BIG_ENDIAN, b.order());
            if (size > 0) {
                b.put(size - 1, (byte) 7);
                assertEquals(7, b.get(size - 1));
            }
        }
    }

    @Test
    void negativeSizesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> IoBuffers.allocate(-1));
    }
}
