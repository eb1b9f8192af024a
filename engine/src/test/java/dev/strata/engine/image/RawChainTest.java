package dev.strata.engine.image;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The chain machinery over the raw format, which needs no external tool. */
class RawChainTest {
    private static final int KIB = 1024;

    @TempDir
    Path dir;

    private Path rawWithDataAt(long size, long dataOffset, int dataLength, byte fill) throws Exception {
        Path p = dir.resolve("img.raw");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
            f.seek(dataOffset);
            byte[] b = new byte[dataLength];
            java.util.Arrays.fill(b, fill);
            f.write(b);
        }
        return p;
    }

    @Test
    void rawBlockStatusFollowsHostHoles() throws Exception {
        Path p = rawWithDataAt(1024 * KIB, 256 * KIB, 64 * KIB, (byte) 7);
        try (Image img = ChainOpener.standard().open(p.toString(), "raw", OpenOptions.readOnlyChain())) {
            List<Extent> map = img.blockStatus(0, img.size());
            assertEquals(3, map.size(), map.toString());
            Extent hole = map.get(0);
            assertTrue(hole.zero() && !hole.data() && hole.present());
            assertEquals(0, hole.offset());
            Extent data = map.get(1);
            assertTrue(data.data() && !data.zero());
            assertEquals(256 * KIB, data.start());
            assertEquals(data.start(), data.offset());
            assertEquals(p.toString(), data.file());
            assertEquals(1024 * KIB, map.get(2).end());
        }
    }

    @Test
    void readReturnsFileBytes() throws Exception {
        Path p = rawWithDataAt(512 * KIB, 100, 10, (byte) 9);
        try (Image img = ChainOpener.standard().open(p.toString(), "raw", OpenOptions.readOnlyChain())) {
            ByteBuffer b = ByteBuffer.allocate(16);
            img.read(b, 96);
            byte[] want = new byte[16];
            java.util.Arrays.fill(want, 4, 14, (byte) 9);
            assertArrayEquals(want, b.array());
        }
    }

    @Test
    void readsOutsideTheImageAreRejected() throws Exception {
        Path p = rawWithDataAt(64 * KIB, 0, 1, (byte) 1);
        try (Image img = ChainOpener.standard().open(p.toString(), "raw", OpenOptions.readOnlyChain())) {
            StrataException e = assertThrows(StrataException.class, () -> img.read(ByteBuffer.allocate(2), 64 * KIB - 1));
            assertEquals(ErrorKind.EINVAL, e.kind());
            assertFalse(img.capabilities().canWrite());
        }
    }

    @Test
    void unknownFormatNameUsesQemuWording() throws Exception {
        Path p = rawWithDataAt(64 * KIB, 0, 1, (byte) 1);
        StrataException e = assertThrows(StrataException.class,
                () -> ChainOpener.standard().open(p.toString(), "foo", OpenOptions.readOnlyChain()));
        assertEquals("Unknown driver 'foo'", e.getMessage());
    }

    @Test
    void concurrentReadersSeeTheSameBytes() throws Exception {
        Path p = rawWithDataAt(4096 * KIB, 1000 * KIB, 512 * KIB, (byte) 3);
        try (Image img = ChainOpener.standard().open(p.toString(), "raw", OpenOptions.readOnlyChain())) {
            ByteBuffer ref = ByteBuffer.allocate((int) img.size());
            img.read(ref, 0);
            List<Thread> threads = new java.util.ArrayList<>();
            java.util.concurrent.atomic.AtomicInteger mismatches = new java.util.concurrent.atomic.AtomicInteger();
            for (int t = 0; t < 8; t++) {
                final int seed = t;
                threads.add(startThread(() -> {
                    java.util.Random r = new java.util.Random(seed);
                    for (int i = 0; i < 200; i++) {
                        int off = r.nextInt((int) img.size() - 8192);
                        ByteBuffer b = ByteBuffer.allocate(8192);
                        img.read(b, off);
                        if (!b.flip().equals(ref.duplicate().position(off).limit(off + 8192))) {
                            mismatches.incrementAndGet();
                        }
                    }
                }));
            }
            for (Thread th : threads) {
                th.join();
            }
            assertEquals(0, mismatches.get());
        }
    }

    private static Thread startThread(Runnable r) {
        Thread t = new Thread(r);
        t.start();
        return t;
    }
}
