package dev.strata.daemon.fuse;

import dev.strata.daemon.Daemon;
import dev.strata.daemon.DaemonSettings;
import dev.strata.daemon.TestImages;
import dev.strata.daemon.Tools;
import dev.strata.daemon.export.ExportSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The FUSE view, mounted by an in-process daemon: file names, sizes and modes, bytes equal to
 * {@code qemu-img convert -O raw}, concurrent readers, writes refused, images untouched, and a
 * clean unmount. Skipped only when /dev/fuse is missing and STRATA_REQUIRE_TOOLS is unset.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FuseMountTest {
    @TempDir
    static Path dir;
    static TestImages images;
    static Daemon daemon;
    static Path mnt;
    static List<FileTime> mtimesBefore;

    @BeforeAll
    static void mount() throws IOException {
        requireFuse();
        images = TestImages.create(dir);
        mtimesBefore = mtimes();
        mnt = Files.createDirectory(dir.resolve("mnt"));
        List<ExportSpec> specs = List.of(
                new ExportSpec("", images.top.toString(), null, "", false),
                new ExportSpec("base", images.base.toString(), "raw", "", false),
                new ExportSpec("comp", images.comp.toString(), null, "", false));
        daemon = Daemon.start(new DaemonSettings(specs, false, null, 0, null, 1, false, mnt, false, null,
                Duration.ofSeconds(2)));
    }

    static void requireFuse() {
        if (!Files.exists(Path.of("/dev/fuse"))) {
            if ("1".equals(System.getenv("STRATA_REQUIRE_TOOLS"))) {
                throw new AssertionError("/dev/fuse is missing; STRATA_REQUIRE_TOOLS=1 makes this a failure");
            }
            assumeTrue(false, "/dev/fuse is missing (no FUSE in this container): FUSE tests skipped");
        }
        Tools.require("qemu-img", "qemu-io", "fusermount");
    }

    @AfterAll
    static void unmount() {
        if (daemon != null) {
            daemon.close();
            assertTrue(MountTable.typeAt(mnt.toAbsolutePath()).isEmpty(), "still mounted after close");
        }
    }

    private static List<FileTime> mtimes() throws IOException {
        List<FileTime> t = new ArrayList<>();
        for (Path p : List.of(images.top, images.base, images.comp)) {
            t.add(Files.getLastModifiedTime(p));
        }
        return t;
    }

    @Test
    void oneReadOnlyFilePerExportNamedAfterIt() throws IOException {
        Set<String> names;
        try (Stream<Path> s = Files.list(mnt)) {
            names = s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
        assertEquals(Set.of("top.raw", "base", "comp"), names);
        for (String n : names) {
            Path f = mnt.resolve(n);
            assertEquals(67108864L, Files.size(f), n);
            assertEquals("r--r--r--", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
            assertTrue(Files.isRegularFile(f));
        }
        String stat = Tools.run(dir, "stat", "-c", "%s", mnt.resolve("top.raw").toString()).ok().stdout().trim();
        assertEquals("67108864", stat);
    }

    @Test
    void bytesEqualQemuImgConvert() {
        assertEquals(Tools.sha256(TestImages.convertRaw(images.top, dir.resolve("top.ref"))), Tools.sha256(mnt.resolve("top.raw")));
        assertEquals(Tools.sha256(TestImages.convertRaw(images.base, dir.resolve("base.ref"))), Tools.sha256(mnt.resolve("base")));
        assertEquals(Tools.sha256(TestImages.convertRaw(images.comp, dir.resolve("comp.ref"))), Tools.sha256(mnt.resolve("comp")));
        String sha = Tools.run(dir, "sha256sum", mnt.resolve("top.raw").toString()).ok().stdout();
        assertTrue(sha.startsWith(Tools.sha256(dir.resolve("top.ref"))), sha);
    }

    @Test
    void concurrentReadersSeeTheSameBytes() throws Exception {
        byte[] ref = Files.readAllBytes(TestImages.convertRaw(images.top, dir.resolve("top.conc.ref")));
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            List<Future<?>> all = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                int seed = t;
                all.add(pool.submit(() -> {
                    java.util.Random rnd = new java.util.Random(seed);
                    try (RandomAccessFile f = new RandomAccessFile(mnt.resolve("top.raw").toFile(), "r")) {
                        for (int i = 0; i < 40; i++) {
                            int len = 1 + rnd.nextInt(300_000);
                            int off = rnd.nextInt(ref.length - len);
                            byte[] got = new byte[len];
                            f.seek(off);
                            f.readFully(got);
                            assertArrayEquals(Arrays.copyOfRange(ref, off, off + len), got, "at " + off + "+" + len);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : all) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void writesAreRefusedAndImagesStayUntouched() throws IOException {
        Path f = mnt.resolve("top.raw");
        assertThrows(IOException.class, () -> Files.newOutputStream(f, StandardOpenOption.WRITE).close());
        assertThrows(IOException.class, () -> Files.createFile(mnt.resolve("new")));
        assertThrows(IOException.class, () -> Files.delete(f));
        Tools.Result dd = Tools.run(dir, "dd", "if=/dev/zero", "of=" + f, "bs=512", "count=1", "conv=notrunc");
        assertTrue(dd.exitCode() != 0 && dd.stderr().contains("Read-only file system"), dd.stderr());
        Tools.run(dir, "head", "-c", "4096", f.toString()).ok();
        assertEquals(mtimesBefore, mtimes());
    }
}
