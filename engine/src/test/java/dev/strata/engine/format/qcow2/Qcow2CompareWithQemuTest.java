package dev.strata.engine.format.qcow2;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Images made by the real qemu-img/qemu-io, read through our engine: the guest bytes must equal
 * {@code qemu-img convert -O raw} and the block status must equal {@code qemu-img map
 * --output=json}, entry for entry.
 */
class Qcow2CompareWithQemuTest {
    @TempDir
    static Path root;

    /** A raw source with compressible runs, an incompressible run, and holes. */
    private static final String SOURCE_RAW = "qemu-img create -q -f raw src.raw 2M && "
            + "qemu-io -f raw -c 'write -P 0x41 0 300k' -c 'write -P 0x42 1M 64k' -c 'write -P 0 1100k 64k' src.raw "
            + ">/dev/null && head -c 70000 /dev/urandom | dd of=src.raw bs=1 seek=1500000 conv=notrunc 2>/dev/null; ";

    static Stream<Arguments> recipes() {
        return Stream.of(
                Arguments.of("v3-64k", "qemu-img create -q -f qcow2 img.qcow2 4M && qemu-io "
                        + "-c 'write -P 0x11 0 100k' -c 'write -P 0x22 1M 64k' -c 'write -z 2M 128k' "
                        + "-c 'write -P 0x33 3M 128k' -c 'write -z 3M 64k' -c 'write -z -u 3136k 64k' "
                        + "-c 'discard 1M 32k' -c 'write -P 0x44 4000k 96k' img.qcow2"),
                // Guest-adjacent clusters allocated out of order (host runs break where guest runs
                // do not), next to allocated zero clusters: the run lengths of standard entries.
                Arguments.of("host-order", "qemu-img create -q -f qcow2 img.qcow2 1M && qemu-io "
                        + "-c 'write -P 1 128k 128k' -c 'write -P 2 0 128k' -c 'write -P 3 384k 64k' "
                        + "-c 'write -P 4 256k 64k' -c 'write -P 5 512k 192k' -c 'write -z 576k 128k' "
                        + "-c 'write -P 6 704k 64k' img.qcow2"),
                Arguments.of("v2", "qemu-img create -q -f qcow2 -o compat=0.10 img.qcow2 3M && qemu-io "
                        + "-c 'write -P 0x11 4k 100k' -c 'write -z 1M 128k' -c 'write -P 0x12 2M 64k' "
                        + "-c 'discard 2M 64k' img.qcow2"),
                Arguments.of("cluster-512", "qemu-img create -q -f qcow2 -o cluster_size=512 img.qcow2 1M && qemu-io "
                        + "-c 'write -P 0x11 1000 3000' -c 'write -P 0x12 100k 70k' -c 'write -z 300k 10k' img.qcow2"),
                Arguments.of("cluster-2M", "qemu-img create -q -f qcow2 -o cluster_size=2M img.qcow2 9M && qemu-io "
                        + "-c 'write -P 0x11 1000k 3000k' -c 'write -z 6M 2M' img.qcow2"),
                Arguments.of("cluster-4k-l2-span", "qemu-img create -q -f qcow2 -o cluster_size=4k img.qcow2 8M && "
                        + "qemu-io -c 'write -P 0x11 2040k 16k' -c 'write -P 0x12 4092k 8k' -c 'write -P 0x13 0 4k' "
                        + "img.qcow2"),
                Arguments.of("extended-l2", "qemu-img create -q -f qcow2 -o extended_l2=on img.qcow2 2M && qemu-io "
                        + "-c 'write -P 1 0 4k' -c 'write -z 68k 4k' -c 'write -P 2 136k 2k' -c 'write -P 3 200k 64k' "
                        + "-c 'write -z -u 300k 8k' -c 'write -P 4 512k 128k' -c 'write -z 520k 6k' "
                        + "-c 'discard 576k 64k' img.qcow2"),
                Arguments.of("extended-l2-backing", "qemu-img create -q -f qcow2 base.qcow2 1M && "
                        + "qemu-io -c 'write -P 9 0 1M' base.qcow2 >/dev/null && "
                        + "qemu-img create -q -f qcow2 -o extended_l2=on -b base.qcow2 -F qcow2 img.qcow2 2M && "
                        + "qemu-io -c 'write -P 1 0 4k' -c 'write -z 100k 6k' -c 'write -P 2 1000k 100k' img.qcow2"),
                Arguments.of("chain-3", "qemu-img create -q -f qcow2 base.qcow2 1M && "
                        + "qemu-io -c 'write -P 1 0 512k' base.qcow2 >/dev/null && "
                        + "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 1536k && "
                        + "qemu-io -c 'write -P 2 256k 512k' -c 'write -z 64k 64k' mid.qcow2 >/dev/null && "
                        + "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 img.qcow2 3M && "
                        + "qemu-io -c 'write -P 3 448k 128k' -c 'write -P 4 2M 64k' img.qcow2"),
                Arguments.of("raw-backing", "qemu-img create -q -f raw base.raw 1M && "
                        + "qemu-io -f raw -c 'write -P 5 64k 64k' base.raw >/dev/null && "
                        + "qemu-img create -q -f qcow2 -b base.raw -F raw img.qcow2 2M && "
                        + "qemu-io -c 'write -P 3 448k 128k' img.qcow2"),
                Arguments.of("zlib", SOURCE_RAW + "qemu-img convert -c -O qcow2 src.raw img.qcow2"),
                Arguments.of("zstd", SOURCE_RAW
                        + "qemu-img convert -c -O qcow2 -o compression_type=zstd src.raw img.qcow2"),
                Arguments.of("zlib-4k", SOURCE_RAW + "qemu-img convert -c -O qcow2 -o cluster_size=4k src.raw img.qcow2"),
                Arguments.of("zstd-2M", SOURCE_RAW
                        + "qemu-img convert -c -O qcow2 -o cluster_size=2M,compression_type=zstd src.raw img.qcow2"),
                Arguments.of("compressed-overwritten", SOURCE_RAW + "qemu-img convert -c -O qcow2 src.raw img.qcow2 && "
                        + "qemu-io -c 'write -P 0x55 60k 8k' -c 'write -z 1M 64k' img.qcow2"),
                Arguments.of("data-file", "qemu-img create -q -f qcow2 -o data_file=$PWD/d.raw img.qcow2 2M && qemu-io "
                        + "-c 'write -P 1 0 100k' -c 'write -z 1M 64k' -c 'write -P 2 1536k 64k' img.qcow2"),
                Arguments.of("data-file-raw", "qemu-img create -q -f qcow2 -o data_file=$PWD/d.raw,data_file_raw=on "
                        + "img.qcow2 2M && qemu-io -c 'write -P 1 0 100k' -c 'write -z 1M 64k' img.qcow2"),
                Arguments.of("refcount-1", "qemu-img create -q -f qcow2 -o refcount_bits=1 img.qcow2 1M && "
                        + "qemu-io -c 'write -P 1 0 100k' img.qcow2"),
                Arguments.of("refcount-64", "qemu-img create -q -f qcow2 -o refcount_bits=64 img.qcow2 1M && "
                        + "qemu-io -c 'write -P 1 0 100k' img.qcow2"),
                Arguments.of("prealloc-metadata", "qemu-img create -q -f qcow2 -o preallocation=metadata img.qcow2 8M "
                        + "&& qemu-io -c 'write -P 1 1M 100k' img.qcow2"),
                Arguments.of("prealloc-falloc", "qemu-img create -q -f qcow2 -o preallocation=falloc img.qcow2 4M "
                        + "&& qemu-io -c 'write -P 1 1M 100k' img.qcow2"),
                Arguments.of("prealloc-full", "qemu-img create -q -f qcow2 -o preallocation=full img.qcow2 2M "
                        + "&& qemu-io -c 'write -P 1 1M 100k' img.qcow2"),
                Arguments.of("snapshots", "qemu-img create -q -f qcow2 img.qcow2 2M && "
                        + "qemu-io -c 'write -P 1 0 200k' img.qcow2 >/dev/null && qemu-img snapshot -c s1 img.qcow2 && "
                        + "qemu-io -c 'write -P 2 100k 200k' img.qcow2 >/dev/null && qemu-img snapshot -c s2 img.qcow2 "
                        + "&& qemu-io -c 'write -z 0 64k' img.qcow2"),
                Arguments.of("bitmaps", "qemu-img create -q -f qcow2 img.qcow2 2M && qemu-img bitmap --add img.qcow2 b0 "
                        + "&& qemu-io -c 'write -P 1 0 200k' img.qcow2"),
                Arguments.of("dirty", "qemu-img create -q -f qcow2 -o lazy_refcounts=on img.qcow2 1M && "
                        + "(ulimit -c 0; qemu-io -c 'write -P 1 0 64k' -c abort img.qcow2 >/dev/null 2>&1; true)"),
                Arguments.of("odd-size", "qemu-img create -q -f qcow2 img.qcow2 1000001 && "
                        + "qemu-io -c 'write -P 1 960k 8k' img.qcow2"),
                Arguments.of("empty", "qemu-img create -q -f qcow2 img.qcow2 0"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("recipes")
    void readsAndMapsLikeQemu(String name, String script) throws IOException {
        Path dir = Files.createDirectories(root.resolve(name));
        QemuTool.run(dir, script);
        assertSameAsQemu(dir, dir.resolve("img.qcow2").toString());
    }

    /**
     * Compares bytes and block status of {@code image} (run from {@code dir}) with the real tools.
     * qemu's raw output is left in a temporary file, deleted when the JVM exits.
     *
     * @return that raw output
     */
    static Path assertSameAsQemu(Path dir, String image) throws IOException {
        Path raw = Files.createTempFile("qemu-out", ".raw");
        raw.toFile().deleteOnExit();
        QemuTool.run(dir, "qemu-img convert -O raw '" + image + "' '" + raw + "'");
        byte[] expected = Files.readAllBytes(raw);
        List<String> expectedMap = qemuMap(dir, image);
        try (Image img = ChainOpener.standard().open(image, null, OpenOptions.readOnlyChain())) {
            assertEquals(expected.length, img.size(), "virtual size");
            // Block status first: reading fallocated (unwritten) host extents fills the page cache,
            // after which ext4's SEEK_DATA calls them data. qemu-img never reads those ranges.
            List<String> actualMap = new ArrayList<>();
            for (Extent e : img.blockStatus(0, img.size())) {
                actualMap.add(describe(e.start(), e.length(), e.depth(), e.present(), e.zero(), e.data(),
                        e.hasOffset() ? e.offset() : null));
            }
            if (img.size() > 0) {
                assertEquals(String.join("\n", expectedMap), String.join("\n", actualMap));
            } else {
                // qemu-img map prints one empty entry for an empty image; that is the map walk's
                // business (ops), not the driver's.
                assertEquals(List.of(), actualMap);
            }
            ByteBuffer buf = ByteBuffer.allocate((int) img.size());
            img.read(buf, 0);
            byte[] actual = buf.array();
            int mismatch = Arrays.mismatch(expected, actual);
            assertEquals(-1, mismatch, "first differing guest byte");
        }
        return raw;
    }

    @SuppressWarnings("unchecked")
    static List<String> qemuMap(Path dir, String image) {
        String json = QemuTool.run(dir, "qemu-img map --output=json '" + image + "'");
        List<String> out = new ArrayList<>();
        for (Object o : (List<Object>) QemuTool.parseJson(json)) {
            Map<String, Object> m = (Map<String, Object>) o;
            out.add(describe((Long) m.get("start"), (Long) m.get("length"), ((Long) m.get("depth")).intValue(),
                    (Boolean) m.get("present"), (Boolean) m.get("zero"), (Boolean) m.get("data"),
                    (Long) m.get("offset")));
        }
        return out;
    }

    static String describe(long start, long length, int depth, boolean present, boolean zero, boolean data,
                           Long offset) {
        return "start=" + start + " length=" + length + " depth=" + depth + " present=" + present + " zero=" + zero
                + " data=" + data + (offset == null ? "" : " offset=" + offset);
    }
}
