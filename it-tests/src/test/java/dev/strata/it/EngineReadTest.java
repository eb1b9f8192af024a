package dev.strata.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every corpus image read through the engine ({@code ChainOpener.standard()}, whole chain,
 * read-only) gives exactly the bytes of {@code qemu-img convert -O raw}: once sequentially in
 * 1 MiB chunks (SHA-256 of the whole disk), once from several threads at once on one shared
 * {@link Image} in unaligned chunks. Images too big to read whole are compared in windows
 * around what qemu-img map reports. Where qemu-img cannot read an image, the engine must fail
 * with a {@link StrataException}, not anything else.
 */
class EngineReadTest {
    private static final int MIB = 1 << 20;
    private static final int THREADS = 4;
    private static final Duration LIMIT = Duration.ofSeconds(120);
    private static final Path SCRATCH = Tools.CWD.resolve("target/engine-read");

    @BeforeAll
    static void scratch() throws IOException {
        Corpus.deleteTree(SCRATCH);
        Files.createDirectories(SCRATCH);
    }

    @AfterAll
    static void cleanUp() {
        Corpus.deleteTree(SCRATCH);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void readsWhatQemuConverts(CorpusImage img) throws Exception {
        if (img.has(CorpusImage.Trait.HUGE)) {
            readWindows(img);
            return;
        }
        Path expected = SCRATCH.resolve(img.name().replace('/', '_') + ".raw");
        Tools.Result convert = Tools.qemuImg("convert", "-O", "raw", img.name(), expected.toString());
        try {
            if (convert.exitCode() != 0) {
                assertEngineRefuses(img.name(), convert);
                return;
            }
            assertTimeoutPreemptively(LIMIT, () -> {
                try (Image image = open(img.name())) {
                    assertEquals(Files.size(expected), image.size(), "virtual size");
                    assertEquals(sha256(expected), sha256(image), "SHA-256 of the whole disk");
                    readConcurrently(image, expected);
                }
            });
        } finally {
            Files.deleteIfExists(expected);
        }
    }

    /** Engine open + full read must end in a StrataException when qemu-img could not read. */
    static void assertEngineRefuses(String name, Tools.Result qemu) {
        assertTimeoutPreemptively(LIMIT, () -> {
            assertThrows(StrataException.class, () -> {
                try (Image image = open(name)) {
                    readAll(image);
                }
            }, () -> "qemu-img convert failed (" + qemu.stderr().strip() + ") but the engine read " + name);
        });
    }

    static Image open(String name) {
        return ChainOpener.standard().open(name, null, OpenOptions.readOnlyChain());
    }

    static void readAll(Image image) {
        ByteBuffer buf = ByteBuffer.allocate(MIB);
        for (long off = 0; off < image.size(); off += MIB) {
            int n = (int) Math.min(MIB, image.size() - off);
            buf.clear().limit(n);
            image.read(buf, off);
        }
    }

    static String sha256(Image image) {
        MessageDigest md = sha();
        ByteBuffer buf = ByteBuffer.allocate(MIB);
        for (long off = 0; off < image.size(); off += MIB) {
            int n = (int) Math.min(MIB, image.size() - off);
            buf.clear().limit(n);
            image.read(buf, off);
            md.update(buf.array(), 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    static String sha256(Path file) throws IOException {
        MessageDigest md = sha();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate(MIB);
            while (ch.read(buf.clear()) > 0) {
                md.update(buf.array(), 0, buf.position());
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static MessageDigest sha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * {@value #THREADS} threads read one shared image in chunks of 1 MiB + 4097 bytes starting at
     * 511, each thread its own chunks in a shuffled order, into direct buffers, and compare each
     * chunk with the same bytes of {@code expected}.
     */
    private static void readConcurrently(Image image, Path expected) throws Exception {
        long size = image.size();
        int chunk = MIB + 4097;
        List<long[]> ranges = new ArrayList<>();
        ranges.add(new long[] {0, Math.min(511, size)});
        for (long off = 511; off < size; off += chunk) {
            ranges.add(new long[] {off, Math.min(chunk, size - off)});
        }
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try (FileChannel file = FileChannel.open(expected, StandardOpenOption.READ)) {
            List<Future<String>> results = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                List<long[]> mine = new ArrayList<>();
                for (int i = t; i < ranges.size(); i += THREADS) {
                    mine.add(ranges.get(i));
                }
                Collections.shuffle(mine, new Random(t));
                results.add(pool.submit(() -> compareRanges(image, file, mine)));
            }
            for (Future<String> f : results) {
                String problem = f.get();
                if (problem != null) {
                    fail(problem);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Null when every range matches, else where the first difference is. */
    private static String compareRanges(Image image, FileChannel file, List<long[]> ranges) throws IOException {
        for (long[] r : ranges) {
            int n = (int) r[1];
            if (n == 0) {
                continue;
            }
            ByteBuffer got = ByteBuffer.allocateDirect(n);
            image.read(got, r[0]);
            byte[] ours = new byte[n];
            got.get(0, ours, 0, n);
            ByteBuffer want = ByteBuffer.allocate(n);
            while (want.hasRemaining() && file.read(want, r[0] + want.position()) > 0) {
                // positional reads until full
            }
            int at = java.util.Arrays.mismatch(ours, want.array());
            if (at >= 0) {
                return String.format("concurrent read differs at guest offset %d (0x%x): engine %02x, qemu %02x",
                        r[0] + at, r[0] + at, ours[at], want.array()[at]);
            }
        }
        return null;
    }

    /**
     * Windows of a huge image: where qemu-img map says data is (up to 8 extents, 2 MiB each),
     * the first and last MiB and the middle, each compared with qemu-img's bytes of the same
     * window (a raw node with offset/size over the image).
     */
    private static void readWindows(CorpusImage img) throws Exception {
        Tools.Result map = Tools.qemuImg("map", "--output=json", img.name()).orFail();
        JsonNode extents = new ObjectMapper().readTree(map.stdout());
        long size = img.virtualSize();
        List<long[]> windows = new ArrayList<>();
        windows.add(new long[] {0, MIB});
        windows.add(new long[] {size / 2 - MIB / 2, MIB});
        windows.add(new long[] {size - MIB, MIB});
        int dataExtents = 0;
        for (JsonNode e : extents) {
            if (e.path("data").asBoolean() && dataExtents++ < 8) {
                long start = Math.max(0, e.path("start").asLong() - 4096);
                windows.add(new long[] {start, Math.min(2L * MIB, size - start)});
            }
        }
        try (Image image = open(img.name())) {
            assertEquals(size, image.size(), "virtual size");
            for (long[] w : windows) {
                Path expected = SCRATCH.resolve("window.raw");
                String opts = "driver=raw,offset=" + w[0] + ",size=" + w[1] + ",file.driver=" + img.format()
                        + ",file.file.driver=file,file.file.filename=" + img.name();
                Tools.qemuImg("convert", "-O", "raw", "--image-opts", opts, expected.toString()).orFail();
                try {
                    byte[] want = Files.readAllBytes(expected);
                    assertEquals(w[1], want.length, "window length");
                    ByteBuffer got = ByteBuffer.allocate((int) w[1]);
                    assertTimeoutPreemptively(LIMIT, () -> image.read(got, w[0]));
                    int at = java.util.Arrays.mismatch(got.array(), want);
                    if (at >= 0) {
                        fail(String.format("window at %d differs at guest offset %d (0x%x)", w[0], w[0] + at, w[0] + at));
                    }
                } finally {
                    Files.deleteIfExists(expected);
                }
            }
        }
    }
}
