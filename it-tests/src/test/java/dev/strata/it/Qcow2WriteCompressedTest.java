package dev.strata.it;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Compressed writes through {@link Image#writeCompressed} (zlib and zstd, a partial last
 * cluster, incompressible clusters stored plain) read back by real qemu-img / qemu-io.
 */
class Qcow2WriteCompressedTest {
    private static final Path DIR = Tools.CWD.resolve("target/qcow2-write-compressed");

    @BeforeAll
    static void scratch() throws IOException {
        Tools.requireTool("qemu-img");
        Corpus.deleteTree(DIR);
        Files.createDirectories(DIR);
    }

    @AfterAll
    static void cleanUp() {
        Corpus.deleteTree(DIR);
    }

    @ParameterizedTest(name = "{0} cluster {1}")
    @CsvSource({"zlib,65536", "zstd,65536", "zlib,512", "zstd,4096", "zlib,2097152"})
    void readBackByQemu(String type, int cluster) throws IOException {
        Path img = DIR.resolve(type + cluster + ".qcow2");
        Path ref = DIR.resolve(type + cluster + ".raw");
        long size = 40L * cluster + 512;
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "compression_type=" + type + ",cluster_size=" + cluster,
                img.toString(), String.valueOf(size)).orFail();
        byte[] all = new byte[(int) size];
        Random random = new Random(cluster);
        for (int c = 0; c * (long) cluster < size; c++) {
            int len = (int) Math.min(cluster, size - (long) c * cluster);
            int kind = c % 3;
            for (int i = 0; i < len; i++) {
                all[c * cluster + i] = kind == 0 ? (byte) random.nextInt()
                        : kind == 1 ? (byte) ('a' + (i / 7) % 13) : (byte) (c & 0xff);
            }
        }
        Files.write(ref, all);
        try (Image image = ChainOpener.standard().open(img.toString(), "qcow2", new OpenOptions(false, false, false))) {
            assertEquals(cluster, image.compressedUnit());
            for (int c = 0; c * (long) cluster < size; c++) {
                int len = (int) Math.min(cluster, size - (long) c * cluster);
                if (c % 5 != 4) {
                    image.writeCompressed(ByteBuffer.wrap(all, c * cluster, len), (long) c * cluster);
                } else {
                    image.write(ByteBuffer.wrap(all, c * cluster, len), (long) c * cluster);
                }
            }
        }
        Tools.qemuImg("compare", "-f", "qcow2", "-F", "raw", img.toString(), ref.toString()).orFail();
        Tools.qemuImg("check", img.toString()).orFail();
        Tools.qemuIo("-c", "read -P " + (2 & 0xff) + " " + (2L * cluster) + " " + cluster, img.toString()).orFail();
        // two thirds of the clusters compress well: the image must be clearly smaller than the data
        assertTrue(Files.size(img) < size * 3 / 4 + 8L * cluster, "image size " + Files.size(img));
    }
}
