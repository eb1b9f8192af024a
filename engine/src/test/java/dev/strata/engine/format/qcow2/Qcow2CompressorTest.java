package dev.strata.engine.format.qcow2;

import dev.strata.engine.StrataException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.Deflater;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Qcow2Compressor: round trips through our decoder, zlib streams a 4 KiB-window inflater
 * (python's zlib, the same native library qemu uses) accepts, incompressible payloads, and
 * many threads at once.
 */
class Qcow2CompressorTest {
    private static final int[] TYPES = {Qcow2Compression.TYPE_ZLIB, Qcow2Compression.TYPE_ZSTD};

    /** Data that compresses, made of short local repeats of random bytes. */
    private static byte[] compressible(int size, long seed) {
        Random r = new Random(seed);
        byte[] b = new byte[size];
        for (int i = 0; i < size; i += 256) {
            byte[] piece = new byte[64];
            r.nextBytes(piece);
            for (int j = i; j < Math.min(size, i + 256); j++) {
                b[j] = piece[(j - i) % 64];
            }
        }
        return b;
    }

    /**
     * 64 KiB made of a 16 KiB pattern four times: the far repeats lie 16 KiB back, which a
     * 32 KiB-window deflater encodes as distances a 4 KiB-window inflater rejects.
     */
    private static byte[] farRepeats() {
        byte[] quarter = compressible(16 * 1024 - 512, 7);
        byte[] noise = new byte[512];
        new Random(8).nextBytes(noise);
        byte[] b = new byte[64 * 1024];
        System.arraycopy(quarter, 0, b, 0, quarter.length);
        System.arraycopy(noise, 0, b, quarter.length, noise.length);
        for (int i = 1; i < 4; i++) {
            System.arraycopy(b, 0, b, i * 16 * 1024, 16 * 1024);
        }
        return b;
    }

    private static byte[] roundTrip(int type, byte[] src, int dstSize) {
        byte[] dst = new byte[dstSize];
        int n = Qcow2Compressor.compress(type, src, src.length, dst);
        assertTrue(n > 0 && n < src.length, "compressed size " + n);
        byte[] out = new byte[src.length];
        Qcow2Compression.decompress(type, Arrays.copyOf(dst, n), out);
        return out;
    }

    @Test
    void roundTripsThroughOurDecoder() {
        for (int type : TYPES) {
            for (int size : new int[] {512, 4096, 65536, 2 * 1024 * 1024}) {
                byte[] src = compressible(size, size);
                assertArrayEquals(src, roundTrip(type, src, size - 1), "type " + type + " size " + size);
            }
            byte[] zeros = new byte[65536];
            assertArrayEquals(zeros, roundTrip(type, zeros, 65535));
        }
    }

    @Test
    void onlyTheFirstSrcLengthBytesAreCompressed() {
        for (int type : TYPES) {
            byte[] src = compressible(8192, 3);
            byte[] longer = Arrays.copyOf(src, 16384);
            Arrays.fill(longer, 8192, 16384, (byte) 0x5a);
            byte[] dst = new byte[8191];
            int n = Qcow2Compressor.compress(type, longer, 8192, dst);
            byte[] out = new byte[8192];
            Qcow2Compression.decompress(type, Arrays.copyOf(dst, n), out);
            assertArrayEquals(src, out);
        }
    }

    @Test
    void zlibStreamsDecodeWithQemusFourKibWindow(@TempDir Path dir) throws IOException {
        byte[] src = farRepeats();
        byte[] ours = new byte[src.length * 2];
        int n = Qcow2Compressor.compress(Qcow2Compression.TYPE_ZLIB, src, src.length, ours);
        assertTrue(n > 0);
        // A control: java.util.zip's 32 KiB window does use the far repeats, and fails there.
        // The inflater below produces at most 1 KiB per call, so only its 4 KiB window holds
        // earlier output: any distance beyond that is refused.
        Deflater javaDeflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
        javaDeflater.setInput(src);
        javaDeflater.finish();
        byte[] theirs = new byte[src.length * 2];
        int m = javaDeflater.deflate(theirs);
        javaDeflater.end();

        Files.write(dir.resolve("expected"), src);
        Files.write(dir.resolve("ours"), Arrays.copyOf(ours, n));
        Files.write(dir.resolve("java"), Arrays.copyOf(theirs, m));
        String script = "python3 -c 'import sys, zlib\n"
                + "expected = open(\"expected\", \"rb\").read()\n"
                + "for name in sys.argv[1:]:\n"
                + "    try:\n"
                + "        d = zlib.decompressobj(-12)\n"
                + "        data, out = open(name, \"rb\").read(), b\"\"\n"
                + "        while data and not d.eof:\n"
                + "            out += d.decompress(data, 1024)\n"
                + "            data = d.unconsumed_tail\n"
                + "        out += d.flush()\n"
                + "        print(name, \"ok\" if out == expected and d.eof else \"mismatch\")\n"
                + "    except zlib.error as e:\n"
                + "        print(name, \"error\", e)\n"
                + "' ours java";
        String result = QemuTool.run(dir, script);
        String[] lines = result.strip().split("\n");
        assertEquals("ours ok", lines[0]);
        assertTrue(lines[1].startsWith("java error") && lines[1].contains("too far back"), lines[1]);
    }

    @Test
    void zlibOutputMatchesNativeZlibWithQemusParameters(@TempDir Path dir) throws IOException {
        // python's zlib.compressobj(-1, DEFLATED, -12, 9, 0) is qemu's deflateInit2 call on the same libz.
        byte[] src = compressible(65536, 11);
        byte[] ours = new byte[65535];
        int n = Qcow2Compressor.compress(Qcow2Compression.TYPE_ZLIB, src, src.length, ours);
        Files.write(dir.resolve("in"), src);
        QemuTool.run(dir, "python3 -c 'import zlib\n"
                + "c = zlib.compressobj(-1, zlib.DEFLATED, -12, 9, 0)\n"
                + "open(\"out\", \"wb\").write(c.compress(open(\"in\", \"rb\").read()) + c.flush())'");
        assertArrayEquals(Files.readAllBytes(dir.resolve("out")), Arrays.copyOf(ours, n));
    }

    @Test
    void payloadThatDoesNotShrinkReturnsMinusOne() {
        byte[] random = new byte[65536];
        new Random(5).nextBytes(random);
        for (int type : TYPES) {
            assertEquals(-1, Qcow2Compressor.compress(type, random, random.length, new byte[65535]));
            assertEquals(-1, Qcow2Compressor.compress(type, random, random.length, new byte[100]));
            // The per-thread state is still good after a failure.
            byte[] src = compressible(65536, 6);
            assertArrayEquals(src, roundTrip(type, src, 65535));
        }
    }

    @Test
    void unknownTypeIsRefused() {
        assertThrows(StrataException.class, () -> Qcow2Compressor.compress(2, new byte[1], 1, new byte[10]));
    }

    @Test
    void manyThreadsAtOnce() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                jobs.add(pool.submit(() -> {
                    for (int i = 0; i < 60; i++) {
                        int type = TYPES[(thread + i) % 2];
                        int size = (i % 3 == 0) ? 4096 : 65536;
                        byte[] src = compressible(size, thread * 1000L + i);
                        byte[] out = roundTrip(type, src, size - 1);
                        if (!Arrays.equals(src, out)) {
                            throw new AssertionError("thread " + thread + " job " + i);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> job : jobs) {
                job.get();
            }
        } finally {
            pool.shutdown();
        }
    }
}
