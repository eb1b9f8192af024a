package dev.strata.engine.format.qcow2;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.Mapping;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** External data file name resolution, and concurrent use of one driver from many threads. */
class Qcow2DataFileAndConcurrencyTest {
    @TempDir
    Path dir;

    /**
     * qemu-img 7.2 resolves a relative data file name against the current directory, not the
     * image's directory (checked with the real tool: run from elsewhere, it fails to open it).
     */
    @Test
    void relativeDataFileIsResolvedAgainstTheCurrentDirectory() throws IOException {
        Path cwd = Path.of("").toAbsolutePath();
        Path sub = Files.createDirectories(dir.resolve("a/sub"));
        String relative = cwd.relativize(sub.resolve("d.raw")).toString();
        Path image = sub.resolve("img.qcow2");
        QemuTool.run(cwd, "qemu-img create -q -f qcow2 -o data_file='" + relative + "' '" + image + "' 1M && "
                + "qemu-io -c 'write -P 3 0 64k' '" + image + "'");
        // From the JVM's directory the name resolves, for qemu-img as for us.
        Qcow2CompareWithQemuTest.assertSameAsQemu(cwd, image.toString());
        try (Image img = ChainOpener.standard().open(image.toString(), null, OpenOptions.readOnlyChain())) {
            FormatDriver d = img.layers().get(0).driver();
            assertEquals(relative, d.storages().get(1).name());
            assertEquals(relative, d.describe().formatSpecific().get("data-file"));
            assertEquals(relative, img.blockStatus(0, img.size()).get(0).file());
        }
    }

    /**
     * An image whose data file "d.raw" sits next to it: qemu-img map works only from that
     * directory; from its parent it fails to open the image (it opens the data file at open
     * time), while qemu-img info, which opens for metadata only, still works. We run in neither
     * directory, so we behave like qemu-img run from the parent.
     */
    @Test
    void dataFileNextToTheImageIsNotFoundFromAnotherDirectory() throws IOException {
        Path sub = Files.createDirectories(dir.resolve("p/sub"));
        QemuTool.run(sub, "qemu-img create -q -f qcow2 -o data_file=d.raw img.qcow2 1M && "
                + "qemu-io -c 'write -P 3 0 64k' img.qcow2");
        QemuTool.run(sub, "qemu-img map --output=json img.qcow2");
        QemuTool.Result r = QemuTool.sh(sub.getParent(), "qemu-img map --output=json sub/img.qcow2");
        assertEquals(1, r.exitCode());
        assertEquals("", r.stdout(), "qemu-img fails before mapping anything");
        String qemuMessage = QemuTool.openError(r.stderr(), "sub/img.qcow2");
        QemuTool.run(sub.getParent(), "qemu-img info sub/img.qcow2");
        assertTrue(Files.notExists(Path.of("d.raw")), "the JVM's directory must not hold a d.raw");
        String image = sub.resolve("img.qcow2").toString();
        StrataException e = assertThrows(StrataException.class,
                () -> ChainOpener.standard().open(image, null, OpenOptions.readOnlyChain()).close());
        assertEquals(ErrorKind.ENOENT, e.kind());
        assertEquals(qemuMessage, e.getMessage());
        try (Image img = ChainOpener.standard().open(image, null, OpenOptions.readOnlyChain().withNoIo(true))) {
            FormatDriver d = img.layers().get(0).driver();
            assertEquals("d.raw", d.describe().formatSpecific().get("data-file"));
            assertEquals(1, d.storages().size(), "a metadata-only open does not touch the data file");
            assertThrows(StrataException.class, () -> img.blockStatus(0, img.size()));
        }
    }

    /** With its data file present, a metadata-only open still leaves the data file alone. */
    @Test
    void metadataOnlyOpenDoesNotOpenThePresentDataFile() throws IOException {
        QemuTool.run(dir, "qemu-img create -q -f qcow2 -o data_file='" + dir.resolve("m.raw") + "' m.qcow2 1M");
        String image = dir.resolve("m.qcow2").toString();
        try (Image img = ChainOpener.standard().open(image, null, OpenOptions.readOnlyChain())) {
            assertEquals(2, img.layers().get(0).driver().storages().size());
        }
        try (Image img = ChainOpener.standard().open(image, null, OpenOptions.readOnlyChain().withNoIo(true))) {
            assertEquals(1, img.layers().get(0).driver().storages().size());
        }
    }

    @Test
    void concurrentReadsAndMapsAgreeWithSequentialOnes() throws Exception {
        // Small L2 slices (4 KiB clusters), compressed and plain clusters, zero and unallocated runs.
        QemuTool.run(dir, "qemu-img create -q -f raw src.raw 16M && qemu-io -f raw "
                + "-c 'write -P 0x41 0 3M' -c 'write -P 0x42 5M 1M' -c 'write -P 0x43 9M 2M' src.raw >/dev/null && "
                + "head -c 1M /dev/urandom | dd of=src.raw bs=64k seek=200 conv=notrunc 2>/dev/null && "
                + "qemu-img convert -c -O qcow2 -o cluster_size=4k src.raw c.qcow2 && "
                + "qemu-io -c 'write -P 0x51 1M 1M' -c 'write -z 6M 512k' -c 'discard 10M 256k' c.qcow2 >/dev/null");
        String image = dir.resolve("c.qcow2").toString();
        byte[] expected = Files.readAllBytes(Qcow2CompareWithQemuTest.assertSameAsQemu(dir, image));
        try (Image img = ChainOpener.standard().open(image, null, OpenOptions.readOnlyChain())) {
            List<Extent> map = img.blockStatus(0, img.size());
            ExecutorService pool = Executors.newFixedThreadPool(16);
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < 16; t++) {
                    futures.add(pool.submit(() -> {
                        ThreadLocalRandom rnd = ThreadLocalRandom.current();
                        for (int i = 0; i < 300; i++) {
                            int len = 1 + rnd.nextInt(40000);
                            int off = rnd.nextInt(expected.length - len);
                            ByteBuffer b = ByteBuffer.allocate(len);
                            img.read(b, off);
                            assertArrayEquals(Arrays.copyOfRange(expected, off, off + len), b.array());
                        }
                        assertEquals(map, img.blockStatus(0, img.size()));
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void mappingRunsStayWithinOneL2SliceAndMergeContiguousHostRanges() throws IOException {
        QemuTool.run(dir, "qemu-img create -q -f qcow2 -o cluster_size=512 img.qcow2 1M && "
                + "qemu-io -c 'write -P 1 0 1M' img.qcow2 >/dev/null");
        try (Image img = ChainOpener.standard().open(dir.resolve("img.qcow2").toString(), null,
                OpenOptions.readOnlyChain())) {
            FormatDriver d = img.layers().get(0).driver();
            // 512-byte clusters: an L2 table (one slice, the cache covers the disk) maps 64 clusters.
            Mapping m = d.map(0, d.virtualSize());
            assertTrue(m instanceof Mapping.Raw, m.toString());
            assertEquals(64 * 512, m.length());
            Mapping next = d.map(100, 1000);
            assertEquals(1000, next.length());
            assertEquals(((Mapping.Raw) m).hostOffset() + 100, ((Mapping.Raw) next).hostOffset());
            assertTrue(d.map(d.virtualSize(), 10) instanceof Mapping.Eof);
        }
    }
}
