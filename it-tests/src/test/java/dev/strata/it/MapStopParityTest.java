package dev.strata.it;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where {@code qemu-img map} stops querying block status. The human format fails at the first
 * entry it cannot place in a file (a compressed cluster); qemu-img has read one block status
 * past that entry and no further. An L2 table pointer corrupted further on must therefore go
 * unnoticed: no "Image is corrupt" event, only the one error line. The JSON format reads on and
 * meets the corruption. Both tools run on the same image and must print the same.
 */
class MapStopParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/map-stop");

    @BeforeAll
    static void scratch() throws IOException {
        Tools.requireTool("qemu-img");
        Tools.requireTool("qemu-io");
        Corpus.deleteTree(DIR);
        Files.createDirectories(DIR);
    }

    @AfterAll
    static void cleanUp() {
        Corpus.deleteTree(DIR);
    }

    /**
     * A compressed cluster at {@code compressedAt}, data at 1 GiB (L1 entry 2 with 64 KiB
     * clusters), and that L1 entry then pointed at an unaligned offset.
     */
    @ParameterizedTest(name = "compressed cluster at {0}")
    @ValueSource(strings = {"0", "64k", "511M"})
    void humanMapStopsAtTheCompressedCluster(String compressedAt) throws Exception {
        Path img = DIR.resolve("stop-" + compressedAt + ".qcow2");
        Tools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "2G").orFail();
        Tools.qemuIo("-c", "write -P 3 256k 64k", "-c", "write -c -P 5 " + compressedAt + " 64k",
                "-c", "write -P 7 1G 64k", img.toString()).orFail();
        try (Qcow2Patcher p = new Qcow2Patcher(img)) {
            p.putU64(p.l1EntryOffset(2), (1L << 63) | (p.l2TableOffset(2) + 0x200));
        }
        Parity.assertSameAsQemu("map", img.toString());
        Parity.assertSameAsQemu("map", "--output=json", img.toString());
    }
}
