package dev.strata.engine.format.qcow2;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.CorruptionEvent;
import dev.strata.engine.format.FormatRegistry;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.storage.FileStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Images made by qemu-img, damaged with small byte patches: opening (or mapping, or reading) must
 * fail with exactly the message real qemu-img 7.2 prints, never hang, never allocate in
 * proportion to the lying field.
 */
class Qcow2DamagedImageTest {
    @TempDir
    Path dir;

    private final AtomicInteger counter = new AtomicInteger();

    /** A fresh image from {@code script} (which must create img.qcow2) in its own directory. */
    private Path image(String script) throws IOException {
        Path d = Files.createDirectories(dir.resolve("case" + counter.incrementAndGet()));
        QemuTool.run(d, script);
        return d.resolve("img.qcow2");
    }

    private Path plainImage() throws IOException {
        return image("qemu-img create -q -f qcow2 img.qcow2 4M && qemu-io -c 'write -P 7 0 100k' img.qcow2");
    }

    private static void patch(Path file, long offset, byte... bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(bytes), offset);
        }
    }

    private static void patch32(Path file, long offset, long value) throws IOException {
        patch(file, offset, ByteBuffer.allocate(4).putInt((int) value).array());
    }

    private static void patch64(Path file, long offset, long value) throws IOException {
        patch(file, offset, ByteBuffer.allocate(8).putLong(value).array());
    }

    private static long read64(Path file, long offset) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer b = ByteBuffer.allocate(8);
            ch.read(b, offset);
            return b.getLong(0);
        }
    }

    /** qemu-img info's open error for {@code image} (with -f qcow2 when {@code forced}). */
    private static String qemuOpenError(Path image, boolean forced) {
        QemuTool.Result r = QemuTool.sh(image.getParent(),
                "qemu-img info " + (forced ? "-f qcow2 " : "") + "'" + image + "'");
        assertEquals(1, r.exitCode(), "qemu-img should refuse the image: " + r.stdout());
        return QemuTool.openError(r.stderr(), image.toString());
    }

    private static StrataException ourOpenError(Path image, boolean forced) {
        return assertThrows(StrataException.class, () -> ChainOpener.standard()
                .open(image.toString(), forced ? "qcow2" : null, OpenOptions.readOnlyChain()).close());
    }

    /** Asserts that we refuse {@code image} at open with qemu-img's exact message. */
    private static StrataException assertOpenFailsLikeQemu(Path image, boolean forced) {
        String expected = qemuOpenError(image, forced);
        StrataException e = ourOpenError(image, forced);
        assertEquals(expected, e.getMessage());
        return e;
    }

    @Test
    void truncatedHeader() throws IOException {
        Path img = plainImage();
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.truncate(100);
        }
        assertEquals("qcow2 header too short", assertOpenFailsLikeQemu(img, false).getMessage());
    }

    @Test
    void badMagicIsNotQcow2() throws IOException {
        Path img = plainImage();
        patch(img, 0, (byte) 'X');
        try (FileStorage s = FileStorage.open(img.toString(), true)) {
            assertEquals("raw", FormatRegistry.standard().probe(s).name());
        }
        assertEquals(0, new Qcow2Format().probe(Files.readAllBytes(img), "img.qcow2"));
        assertEquals("Image is not in qcow2 format", assertOpenFailsLikeQemu(img, true).getMessage());
    }

    @Test
    void probeScoresMagicWithVersionTwoOrMore() throws IOException {
        Qcow2Format f = new Qcow2Format();
        assertEquals(100, f.probe(Files.readAllBytes(plainImage()), "x"));
        assertEquals(0, f.probe(new byte[] {'Q', 'F', 'I', (byte) 0xfb}, "x"));
        assertEquals(0, f.probe(new byte[0], "x"));
    }

    @Test
    void unsupportedVersions() throws IOException {
        Path img = plainImage();
        patch32(img, 4, 4);
        assertEquals("Unsupported qcow2 version 4", assertOpenFailsLikeQemu(img, false).getMessage());
        patch32(img, 4, 1);
        assertEquals(ErrorKind.ENOTSUP, assertOpenFailsLikeQemu(img, true).kind());
    }

    @Test
    void clusterBitsOutOfRange() throws IOException {
        Path img = plainImage();
        patch32(img, 20, 8);
        assertOpenFailsLikeQemu(img, false);
        patch32(img, 20, 22);
        assertEquals("Unsupported cluster size: 2^22", assertOpenFailsLikeQemu(img, false).getMessage());
    }

    @Test
    void headerLengthThatLies() throws IOException {
        Path img = plainImage();
        patch32(img, 100, 0x100000);
        assertEquals("qcow2 header exceeds cluster size", assertOpenFailsLikeQemu(img, false).getMessage());
        patch32(img, 100, 96);
        assertEquals("qcow2 header too short", assertOpenFailsLikeQemu(img, false).getMessage());
    }

    @Test
    void headerExtensionTooLarge() throws IOException {
        Path img = plainImage();
        patch32(img, 112 + 4, 0x7fffffff); // length of the first extension (feature table)
        assertEquals("Header extension too large", assertOpenFailsLikeQemu(img, false).getMessage());
    }

    @Test
    void absurdL1Table() throws IOException {
        Path img = plainImage();
        patch32(img, 36, 0x7fffffff);
        assertEquals("Active L1 table too large", assertOpenFailsLikeQemu(img, false).getMessage());
        patch32(img, 36, 1);
        patch64(img, 40, 0x30000 + 8);
        assertEquals("Active L1 table offset invalid", assertOpenFailsLikeQemu(img, false).getMessage());
        patch64(img, 40, 0x30000);
        patch32(img, 36, 0);
        assertEquals("L1 table is too small", assertOpenFailsLikeQemu(img, false).getMessage());
    }

    @Test
    void l1TablePastEndOfFileReadsAsUnallocated() throws IOException {
        Path img = plainImage();
        patch64(img, 40, 1L << 40);
        Qcow2CompareWithQemuTest.assertSameAsQemu(img.getParent(), img.toString());
    }

    @Test
    void l2TableAndDataPastEndOfFile() throws IOException {
        // 4 KiB clusters: one L2 table maps 2 MiB.
        Path img = image("qemu-img create -q -f qcow2 -o cluster_size=4k img.qcow2 8M && "
                + "qemu-io -c 'write -P 7 0 100k' -c 'write -P 8 5M 64k' img.qcow2");
        long l1 = read64(img, 40);
        patch64(img, l1, Qcow2L2Entry.OFLAG_COPIED | 1L << 40); // L2 table far past the end
        long l2 = read64(img, l1 + 2 * 8) & Qcow2L2Entry.L1_OFFSET_MASK;
        patch64(img, l2 + 256 * 8, Qcow2L2Entry.OFLAG_COPIED | 1L << 41); // data cluster at 5M past the end
        Qcow2CompareWithQemuTest.assertSameAsQemu(img.getParent(), img.toString());
    }

    @Test
    void refcountTableProblems() throws IOException {
        Path img = plainImage();
        patch32(img, 56, 0);
        assertEquals("Image does not contain a reference count table",
                assertOpenFailsLikeQemu(img, false).getMessage());
        patch32(img, 56, 0x7fffffff);
        assertEquals("Reference count table too large", assertOpenFailsLikeQemu(img, false).getMessage());
        patch32(img, 56, 1);
        patch64(img, 48, 0x10000 + 512);
        assertEquals("Reference count table offset invalid", assertOpenFailsLikeQemu(img, false).getMessage());
        patch64(img, 48, 0x10000);
        patch32(img, 96, 7);
        assertOpenFailsLikeQemu(img, false);
    }

    @Test
    void absurdSnapshotCountAndExtraData() throws IOException {
        Path img = image("qemu-img create -q -f qcow2 img.qcow2 1M && qemu-img snapshot -c s1 img.qcow2");
        long snapOffset = read64(img, 64);
        patch32(img, 60, 0x7fffffff);
        assertEquals("Snapshot table too large", assertOpenFailsLikeQemu(img, false).getMessage());
        patch32(img, 60, 1);
        patch64(img, 64, snapOffset + 8);
        assertEquals("Snapshot table offset invalid", assertOpenFailsLikeQemu(img, false).getMessage());
        patch64(img, 64, snapOffset);
        patch32(img, snapOffset + 36, 5000);
        assertTrue(assertOpenFailsLikeQemu(img, false).getMessage()
                .startsWith("Too much extra metadata in snapshot table entry 0\n"));
    }

    @Test
    void snapshotCountPointingPastEndOfFileIsHarmless() throws IOException {
        Path img = plainImage();
        patch32(img, 60, 65536);
        patch64(img, 64, 1L << 40);
        try (Image i = ChainOpener.standard().open(img.toString(), null, OpenOptions.readOnlyChain())) {
            assertEquals(65536, i.layers().get(0).driver().describe().snapshots().size());
        }
    }

    @Test
    void unknownIncompatibleFeature() throws IOException {
        Path img = plainImage();
        patch64(img, 72, 1L << 5 | 1L << 40);
        assertEquals("Unsupported qcow2 feature(s): Unknown incompatible feature: 10000000020",
                assertOpenFailsLikeQemu(img, false).getMessage());
        // Rename the feature table's first entry (the dirty bit) to incompatible bit 5.
        patch(img, 120, (byte) 0, (byte) 5, (byte) 'f', (byte) 'a', (byte) 'n', (byte) 'c', (byte) 'y', (byte) 0);
        assertEquals("Unsupported qcow2 feature(s): fancy, Unknown incompatible feature: 10000000000",
                assertOpenFailsLikeQemu(img, false).getMessage());
    }

    @Test
    void unknownCompressionTypeAndCryptMethod() throws IOException {
        Path img = plainImage();
        patch(img, 104, (byte) 2);
        assertEquals("qcow2: unknown compression type: 2", assertOpenFailsLikeQemu(img, false).getMessage());
        patch(img, 104, (byte) 1);
        assertOpenFailsLikeQemu(img, false); // zstd without the incompatible bit
        patch(img, 104, (byte) 0);
        patch32(img, 32, 3);
        assertEquals("Unsupported encryption method 3", assertOpenFailsLikeQemu(img, false).getMessage());
    }

    @Test
    void backingFileNameProblems() throws IOException {
        Path img = image("qemu-img create -q -f qcow2 b.qcow2 1M && "
                + "qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 img.qcow2");
        long offset = read64(img, 8);
        patch32(img, 16, 2000);
        assertEquals("Backing file name too long", assertOpenFailsLikeQemu(img, false).getMessage());
        patch64(img, 8, 1L << 20);
        assertEquals("Invalid backing file offset", assertOpenFailsLikeQemu(img, false).getMessage());
        patch64(img, 8, offset);
    }

    /**
     * An empty backing file name (size 0, or a name starting with NUL) is no backing file to
     * qemu: the image opens alone and maps and reads like qemu-img says.
     */
    @Test
    void emptyBackingFileNameMeansNoBacking() throws IOException {
        Path img = image("qemu-img create -q -f qcow2 b.qcow2 1M && qemu-io -c 'write -P 5 0 64k' b.qcow2 >/dev/null"
                + " && qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 img.qcow2");
        long offset = read64(img, 8);
        patch(img, offset, (byte) 0); // name "\0.qcow2": empty as a C string
        Qcow2CompareWithQemuTest.assertSameAsQemu(img.getParent(), img.toString());
        patch(img, offset, (byte) 'b');
        patch32(img, 16, 0);
        Qcow2CompareWithQemuTest.assertSameAsQemu(img.getParent(), img.toString());
        try (Image i = ChainOpener.standard().open(img.toString(), null, OpenOptions.readOnlyChain())) {
            ByteBuffer b = ByteBuffer.allocate(512);
            i.read(b, 0);
            assertEquals(0, b.get(0));
        }
    }

    @Test
    void absurdBitmapsExtension() throws IOException {
        Path img = image("qemu-img create -q -f qcow2 img.qcow2 1M && qemu-img bitmap --add img.qcow2 b0");
        long ext = findExtension(img, Qcow2HeaderExtension.BITMAPS);
        patch32(img, ext, 70000);
        assertEquals("bitmaps_ext: Image has 70000 bitmaps, exceeding the QEMU supported maximum of 65535",
                assertOpenFailsLikeQemu(img, false).getMessage());
        patch32(img, ext, 2);
        assertEquals("Less bitmaps found than specified in header extension",
                assertOpenFailsLikeQemu(img, false).getMessage());
        patch32(img, ext, 1);
        patch64(img, ext + 8, 1L << 40);
        assertOpenFailsLikeQemu(img, false);
        patch64(img, ext + 8, 1L << 20); // directory runs past its single entry
        assertOpenFailsLikeQemu(img, false);
    }

    /**
     * Bitmap tables and the bitmap directory at offsets qemu's block layer refuses (negative, or
     * past BDRV_MAX_LENGTH): "Input/output error" in qemu's wording, never a JDK exception.
     */
    @Test
    void bitmapOffsetsTheBlockLayerRefuses() throws IOException {
        Path img = image("qemu-img create -q -f qcow2 img.qcow2 1M && qemu-img bitmap --add img.qcow2 b0");
        long ext = findExtension(img, Qcow2HeaderExtension.BITMAPS);
        long dirOffset = read64(img, ext + 16);
        long table = read64(img, dirOffset);
        for (long bad : new long[] {0x8000000000000000L, 0xffffffffffff0000L, 0x7fffffffc0000000L}) {
            patch64(img, dirOffset, bad);
            assertEquals("Could not read bitmap_table table from image for bitmap 'b0': Input/output error",
                    assertOpenFailsLikeQemu(img, false).getMessage());
        }
        patch64(img, dirOffset, 0x7ffffffffffffe00L); // unaligned: the directory check comes first
        assertEquals("Bitmap 'b0' doesn't satisfy the constraints", assertOpenFailsLikeQemu(img, false).getMessage());
        patch64(img, dirOffset, 0x7fffffff00000000L); // far past EOF but readable: zeros, like qemu
        assertEquals(0, QemuTool.sh(img.getParent(), "qemu-img info '" + img + "'").exitCode());
        ChainOpener.standard().open(img.toString(), null, OpenOptions.readOnlyChain()).close();
        patch64(img, dirOffset, table);
        for (long bad : new long[] {0x8000000000000000L, 0x7fffffffffff0000L}) {
            patch64(img, ext + 16, bad);
            assertEquals("Failed to read bitmap directory: Input/output error",
                    assertOpenFailsLikeQemu(img, false).getMessage());
        }
    }

    /**
     * qemu computes a directory entry's size in C int, so a huge extra_data_size wraps negative
     * and the entry is refused for its extra data, not as a broken directory.
     */
    @Test
    void bitmapExtraDataCheckedInQemuOrder() throws IOException {
        Path img = image("qemu-img create -q -f qcow2 img.qcow2 1M && qemu-img bitmap --add img.qcow2 b0");
        long dirOffset = read64(img, findExtension(img, Qcow2HeaderExtension.BITMAPS) + 16);
        for (long extra : new long[] {0xfffffff0L, 0xffffffe8L, 0x7ffffff0L}) {
            patch32(img, dirOffset + 20, extra);
            assertEquals("Bitmap extra data is not supported", assertOpenFailsLikeQemu(img, false).getMessage());
        }
        patch32(img, dirOffset + 20, 0x10);
        assertEquals("Broken bitmap directory", assertOpenFailsLikeQemu(img, false).getMessage());
    }

    @Test
    void sizeNotMultipleOf512IsRoundedDown() throws IOException {
        Path img = plainImage();
        patch64(img, 24, 4 * 1024 * 1024 - 100);
        Qcow2CompareWithQemuTest.assertSameAsQemu(img.getParent(), img.toString());
    }

    @Test
    void corruptBitAllowsReadOnlyOpenOnly() throws IOException {
        Path img = plainImage();
        patch64(img, 72, Qcow2FeatureBits.INCOMPAT_CORRUPT);
        Qcow2CompareWithQemuTest.assertSameAsQemu(img.getParent(), img.toString());
        QemuTool.Result r = QemuTool.sh(img.getParent(), "qemu-io -c 'read 0 512' '" + img + "'");
        assertTrue(r.stderr().contains("qcow2: Image is corrupt; cannot be opened read/write"), r.stderr());
        StrataException e = assertThrows(StrataException.class, () -> ChainOpener.standard()
                .open(img.toString(), null, new OpenOptions(false, false, false)).close());
        assertEquals("qcow2: Image is corrupt; cannot be opened read/write", e.getMessage());
        assertEquals(ErrorKind.EACCES, e.kind());
    }

    @Test
    void misalignedL2TableFailsMapping() throws IOException {
        Path img = plainImage();
        long l1 = read64(img, 40);
        patch64(img, l1, read64(img, l1) + 512);
        QemuTool.Result r = QemuTool.sh(img.getParent(), "qemu-img map --output=json '" + img + "'");
        assertEquals(1, r.exitCode());
        List<CorruptionEvent> events = new CopyOnWriteArrayList<>();
        try (Image i = openRecording(img, events)) {
            StrataException e = assertThrows(StrataException.class, () -> i.blockStatus(0, i.size()));
            assertEquals(ErrorKind.EIO, e.kind());
            assertTrue(r.stderr().contains(e.getMessage()), r.stderr() + " vs " + e.getMessage());
            assertThrows(StrataException.class, () -> i.read(ByteBuffer.allocate(512), 0));
        }
        assertSignalledLikeQemu(r, events, img);
    }

    @Test
    void misalignedDataClusterFailsMapping() throws IOException {
        Path img = plainImage();
        long l2 = read64(img, read64(img, 40)) & Qcow2L2Entry.L1_OFFSET_MASK;
        patch64(img, l2, read64(img, l2) + 1024);
        QemuTool.Result r = QemuTool.sh(img.getParent(), "qemu-img map --output=json '" + img + "'");
        assertEquals(1, r.exitCode());
        List<CorruptionEvent> events = new CopyOnWriteArrayList<>();
        try (Image i = openRecording(img, events)) {
            StrataException e = assertThrows(StrataException.class, () -> i.read(ByteBuffer.allocate(512), 0));
            assertEquals(ErrorKind.EIO, e.kind());
            assertTrue(r.stderr().contains(e.getMessage()), r.stderr() + " vs " + e.getMessage());
        }
        assertSignalledLikeQemu(r, events, img);
    }

    /**
     * A misaligned refcount block: qemu signals it while probing for metadata preallocation at
     * the first block status, then maps the image as if it were not preallocated (exit 0).
     */
    @Test
    void misalignedRefcountBlockIsSignalledButMappingWorks() throws IOException {
        Path img = plainImage();
        long reftable = read64(img, 48);
        patch64(img, reftable, read64(img, reftable) + 512);
        QemuTool.Result r = QemuTool.sh(img.getParent(), "qemu-img map --output=json '" + img + "'");
        assertEquals(0, r.exitCode(), r.stderr());
        List<CorruptionEvent> events = new CopyOnWriteArrayList<>();
        try (Image i = openRecording(img, events)) {
            assertEquals(((List<?>) QemuTool.parseJson(r.stdout())).size(), i.blockStatus(0, i.size()).size());
            i.read(ByteBuffer.allocate(4096), 0);
        }
        assertSignalledLikeQemu(r, events, img);
    }

    /** Unwatched opens and metadata-only opens that never map report nothing and still fail. */
    @Test
    void corruptionEventsGoOnlyToTheListenerOfTheirOpen() throws IOException {
        Path img = plainImage();
        long l1 = read64(img, 40);
        patch64(img, l1, read64(img, l1) + 512);
        try (Image i = ChainOpener.standard().open(img.toString(), null, OpenOptions.readOnlyChain())) {
            assertThrows(StrataException.class, () -> i.blockStatus(0, i.size()));
        }
        List<CorruptionEvent> first = new CopyOnWriteArrayList<>();
        List<CorruptionEvent> second = new CopyOnWriteArrayList<>();
        try (Image a = openRecording(img, first); Image b = openRecording(img, second)) {
            assertThrows(StrataException.class, () -> a.blockStatus(0, a.size()));
            assertThrows(StrataException.class, () -> b.blockStatus(0, b.size()));
            assertThrows(StrataException.class, () -> a.blockStatus(0, a.size()));
        }
        assertEquals(1, first.size(), first::toString);
        assertEquals(1, second.size(), "each open image reports its own corruption once");
    }

    /** Opens {@code img} (whole chain, read-only) with a listener that records corruption events. */
    private static Image openRecording(Path img, List<CorruptionEvent> events) {
        return ChainOpener.standard().open(img.toString(), null,
                OpenOptions.readOnlyChain().withCorruptionListener(events::add));
    }

    /** Exactly one event, whose line is the first line qemu-img printed on stderr. */
    private static void assertSignalledLikeQemu(QemuTool.Result qemu, List<CorruptionEvent> events, Path img) {
        assertEquals(1, events.size(), events::toString);
        assertEquals(qemu.stderr().lines().findFirst().orElse(""), events.get(0).message());
        assertEquals(img.toString(), events.get(0).fileName());
        assertEquals("qcow2", events.get(0).formatName());
    }

    @Test
    void invalidSubclusterBitmapFailsMapping() throws IOException {
        Path img = image("qemu-img create -q -f qcow2 -o extended_l2=on img.qcow2 1M && "
                + "qemu-io -c 'write -P 1 0 4k' img.qcow2");
        long l2 = read64(img, read64(img, 40)) & Qcow2L2Entry.L1_OFFSET_MASK;
        patch64(img, l2 + 8, read64(img, l2 + 8) | (1L << 32)); // subcluster 0: allocated and zero
        QemuTool.Result r = QemuTool.sh(img.getParent(), "qemu-img map --output=json '" + img + "'");
        assertEquals(1, r.exitCode());
        try (Image i = ChainOpener.standard().open(img.toString(), null, OpenOptions.readOnlyChain())) {
            StrataException e = assertThrows(StrataException.class, () -> i.blockStatus(0, i.size()));
            assertTrue(r.stderr().contains(e.getMessage()), r.stderr() + " vs " + e.getMessage());
        }
    }

    @Test
    void zeroFlagInVersion2FailsMapping() throws IOException {
        Path img = image("qemu-img create -q -f qcow2 -o compat=0.10 img.qcow2 1M && "
                + "qemu-io -c 'write -P 1 0 4k' img.qcow2");
        long l2 = read64(img, read64(img, 40)) & Qcow2L2Entry.L1_OFFSET_MASK;
        patch64(img, l2, read64(img, l2) | 1);
        QemuTool.Result r = QemuTool.sh(img.getParent(), "qemu-img map --output=json '" + img + "'");
        assertEquals(1, r.exitCode());
        try (Image i = ChainOpener.standard().open(img.toString(), null, OpenOptions.readOnlyChain())) {
            StrataException e = assertThrows(StrataException.class, () -> i.blockStatus(0, i.size()));
            assertTrue(r.stderr().contains(e.getMessage()), r.stderr() + " vs " + e.getMessage());
        }
    }

    @Test
    void compressedClusterThatDoesNotInflate() throws IOException {
        Path img = image("qemu-img create -q -f raw src.raw 256k && qemu-io -f raw -c 'write -P 0x41 0 256k' src.raw "
                + ">/dev/null && qemu-img convert -c -O qcow2 src.raw img.qcow2");
        long l2 = read64(img, read64(img, 40)) & Qcow2L2Entry.L1_OFFSET_MASK;
        Qcow2L2Entry entry = new Qcow2L2Entry(read64(img, l2), 0);
        assertTrue(entry.isCompressed());
        long host = entry.compressedHostOffset(16);
        patch(img, host, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff);
        QemuTool.Result r = QemuTool.sh(img.getParent(), "qemu-img convert -O raw '" + img + "' out.raw");
        assertEquals(1, r.exitCode());
        assertTrue(r.stderr().contains("Input/output error"), r.stderr());
        try (Image i = ChainOpener.standard().open(img.toString(), null, OpenOptions.readOnlyChain())) {
            StrataException e = assertThrows(StrataException.class, () -> i.read(ByteBuffer.allocate(4096), 0));
            assertEquals(ErrorKind.EIO, e.kind());
            assertNotNull(e.getMessage());
            // Other clusters still read.
            ByteBuffer b = ByteBuffer.allocate(4096);
            i.read(b, 65536);
            assertEquals(0x41, b.get(0));
        }
    }

    /** Host offset of the data of the first header extension of {@code type}. */
    private static long findExtension(Path img, int type) throws IOException {
        try (FileStorage s = FileStorage.open(img.toString(), true)) {
            for (Qcow2HeaderExtension e : Qcow2Header.parse(s, true).extensions()) {
                if (e.type() == type) {
                    return e.dataOffset();
                }
            }
        }
        throw new AssertionError("no extension " + type);
    }
}
