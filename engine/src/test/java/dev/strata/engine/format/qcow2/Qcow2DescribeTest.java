package dev.strata.engine.format.qcow2;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.LayerDescription;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.SnapshotInfo;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** describe() and backing() against {@code qemu-img info --output=json}. */
class Qcow2DescribeTest {
    /** QAPI order of ImageInfoSpecificQCow2 members. */
    private static final List<String> QAPI_ORDER = List.of("compat", "data-file", "data-file-raw", "extended-l2",
            "lazy-refcounts", "corrupt", "refcount-bits", "encrypt", "bitmaps", "compression-type");

    @TempDir
    static Path root;

    static Stream<Arguments> images() {
        return Stream.of(
                Arguments.of("v2", "qemu-img create -q -f qcow2 -o compat=0.10 img.qcow2 1M"),
                Arguments.of("v3-lazy-bitmaps", "qemu-img create -q -f qcow2 -o lazy_refcounts=on img.qcow2 1M && "
                        + "qemu-img bitmap --add img.qcow2 b0 && qemu-img bitmap --add --disable -g 128k img.qcow2 b1"),
                Arguments.of("bitmap-in-use", "qemu-img create -q -f qcow2 img.qcow2 1M && "
                        + "qemu-img bitmap --add img.qcow2 b0 && "
                        + "(ulimit -c 0; qemu-io -c 'write 0 4k' -c abort img.qcow2 >/dev/null 2>&1; true)"),
                Arguments.of("extended-l2-zstd-refcount8", "qemu-img create -q -f qcow2 "
                        + "-o extended_l2=on,compression_type=zstd,refcount_bits=8,cluster_size=16k img.qcow2 1M"),
                Arguments.of("data-file", "qemu-img create -q -f qcow2 -o data_file=$PWD/d.raw img.qcow2 1M"),
                Arguments.of("data-file-raw", "qemu-img create -q -f qcow2 -o data_file=$PWD/d.raw,data_file_raw=on "
                        + "img.qcow2 1M"),
                Arguments.of("aes", "qemu-img create -q -f qcow2 --object secret,id=sec0,data=abc "
                        + "-o encrypt.format=aes,encrypt.key-secret=sec0 img.qcow2 1M"),
                Arguments.of("snapshots-dirty", "qemu-img create -q -f qcow2 -o lazy_refcounts=on img.qcow2 1M && "
                        + "qemu-img snapshot -c first img.qcow2 && qemu-img snapshot -c 'second one' img.qcow2 && "
                        + "(ulimit -c 0; qemu-io -c 'write 0 4k' -c abort img.qcow2 >/dev/null 2>&1; true)"),
                Arguments.of("backing", "qemu-img create -q -f raw b.raw 1M && "
                        + "qemu-img create -q -f qcow2 -b b.raw -F raw img.qcow2 2M"),
                // The backing format extension turned into an unknown extension (which is skipped).
                Arguments.of("backing-no-format", "qemu-img create -q -f qcow2 b.qcow2 1M && "
                        + "qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 img.qcow2 2M && python3 -c \""
                        + "d=open('img.qcow2','r+b'); h=d.read(4096); i=h.index(bytes.fromhex('e2792aca')); "
                        + "d.seek(i); d.write(bytes.fromhex('12345678')); d.close()\""));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void describesLikeQemuImgInfo(String name, String script) throws IOException {
        Path dir = Files.createDirectories(root.resolve(name));
        QemuTool.run(dir, script);
        assertDescribesLikeQemu(dir, dir.resolve("img.qcow2"));
    }

    @SuppressWarnings("unchecked")
    static void assertDescribesLikeQemu(Path dir, Path image) {
        Map<String, Object> info = (Map<String, Object>) QemuTool.parseJson(
                QemuTool.run(dir, "qemu-img info -U --output=json '" + image + "'"));
        // As qemu-img info opens: no backing file, metadata only (BDRV_O_NO_IO).
        OpenOptions infoOpen = new OpenOptions(true, false, true).withNoIo(true);
        try (Image img = ChainOpener.standard().open(image.toString(), null, infoOpen)) {
            FormatDriver d = img.layers().get(0).driver();
            LayerDescription desc = d.describe();
            assertEquals(info.get("virtual-size"), d.virtualSize());
            assertEquals(info.get("cluster-size"), desc.clusterSize());
            assertEquals(info.getOrDefault("encrypted", false), desc.encrypted());
            assertEquals(info.get("dirty-flag"), desc.dirty());
            Map<String, Object> expected = (Map<String, Object>) ((Map<String, Object>) info.get("format-specific"))
                    .get("data");
            assertEquals(expected, desc.formatSpecific());
            List<String> order = new ArrayList<>(desc.formatSpecific().keySet());
            List<String> qapi = new ArrayList<>(QAPI_ORDER);
            qapi.retainAll(order);
            assertEquals(qapi, order, "QAPI member order");
            assertEquals(snapshots((List<Object>) info.get("snapshots")), desc.snapshots());
            Optional<BackingReference> backing = d.backing();
            assertEquals(info.get("backing-filename"), backing.map(BackingReference::fileName).orElse(null));
            assertEquals(info.get("backing-filename-format"), backing.map(BackingReference::format).orElse(null));
        }
    }

    @SuppressWarnings("unchecked")
    private static List<SnapshotInfo> snapshots(List<Object> json) {
        List<SnapshotInfo> out = new ArrayList<>();
        if (json == null) {
            return out;
        }
        for (Object o : json) {
            Map<String, Object> m = (Map<String, Object>) o;
            long clock = (Long) m.get("vm-clock-sec") * 1_000_000_000L + (Long) m.get("vm-clock-nsec");
            out.add(new SnapshotInfo((String) m.get("id"), (String) m.get("name"), (Long) m.get("vm-state-size"),
                    (Long) m.get("date-sec"), (Long) m.get("date-nsec"), clock,
                    (Long) m.getOrDefault("icount", -1L)));
        }
        return out;
    }

    /**
     * A LUKS image: info (the LUKS header details qemu-img info prints without a secret); an open
     * for I/O refused as qemu-img refuses it without the secret; and with a metadata-only open,
     * map (DATA without offset, as qemu reports it with the secret) and a clear ENOTSUP on reads.
     */
    @Test
    void luksEncryptedImage() throws IOException {
        Path dir = Files.createDirectories(root.resolve("luks"));
        String create = "qemu-img create -q -f qcow2 --object secret,id=sec0,data=abc -o "
                + "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,cluster_size=64k img.qcow2 1M";
        QemuTool.Result r = null;
        for (int attempt = 0; attempt < 20; attempt++) {
            // LUKS key derivation benchmarks CPU time, which now and then fails on a loaded machine
            // ("Unable to get accurate CPU usage"), sometimes several times running: try again,
            // after a pause, on exactly that failure.
            if (attempt > 0) {
                java.util.concurrent.locks.LockSupport.parkNanos(100_000_000L);
            }
            r = QemuTool.sh(dir, create);
            if (r.exitCode() == 0 || !r.stderr().contains("Unable to get accurate CPU usage")) {
                break;
            }
        }
        r.requireSuccess();
        String opts = "--object secret,id=sec0,data=abc --image-opts "
                + "driver=qcow2,file.filename=img.qcow2,encrypt.key-secret=sec0";
        QemuTool.run(dir, "qemu-io " + opts + " -c 'write -P 1 0 64k' -c 'write -z 128k 64k' >/dev/null");
        Path image = dir.resolve("img.qcow2");
        assertDescribesLikeQemu(dir, image);

        List<String> expectedMap = new ArrayList<>();
        String json = QemuTool.run(dir, "qemu-img map --output=json " + opts);
        for (Object o : (List<?>) QemuTool.parseJson(json)) {
            Map<?, ?> m = (Map<?, ?>) o;
            expectedMap.add(Qcow2CompareWithQemuTest.describe((Long) m.get("start"), (Long) m.get("length"),
                    ((Long) m.get("depth")).intValue(), (Boolean) m.get("present"), (Boolean) m.get("zero"),
                    (Boolean) m.get("data"), (Long) m.get("offset")));
        }
        QemuTool.Result noKey = QemuTool.sh(dir, "qemu-img map img.qcow2");
        assertEquals(1, noKey.exitCode());
        StrataException refused = assertThrows(StrataException.class, () -> ChainOpener.standard()
                .open(image.toString(), null, OpenOptions.readOnlyChain()).close());
        assertEquals(QemuTool.openError(noKey.stderr(), "img.qcow2"), refused.getMessage());
        try (Image img = ChainOpener.standard().open(image.toString(), null,
                OpenOptions.readOnlyChain().withNoIo(true))) {
            List<String> actual = new ArrayList<>();
            img.blockStatus(0, img.size()).forEach(e -> actual.add(Qcow2CompareWithQemuTest.describe(e.start(),
                    e.length(), e.depth(), e.present(), e.zero(), e.data(), e.hasOffset() ? e.offset() : null)));
            assertEquals(expectedMap, actual);
            StrataException e = assertThrows(StrataException.class, () -> img.read(ByteBuffer.allocate(512), 0));
            assertEquals(ErrorKind.ENOTSUP, e.kind());
            assertTrue(e.getMessage().contains("encrypt"), e.getMessage());
            ByteBuffer zeros = ByteBuffer.allocate(512);
            img.read(zeros, 128 * 1024); // zero clusters need no key
        }
    }
}
