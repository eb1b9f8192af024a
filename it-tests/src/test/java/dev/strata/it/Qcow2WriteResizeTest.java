package dev.strata.it;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.storage.FileStorage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The qcow2 writer's resize against real {@code qemu-img resize} on twins: the same image is
 * made twice at the same path (qemu-img create + qemu-io writes); one is resized by qemu-img,
 * the other through {@code LayerWriter.resize}; {@code qemu-img info --output=json} and
 * {@code map --output=json} must match (info with "actual-size" masked: the host file system
 * rounds the twins' allocation differently by a block either way), the two must compare equal
 * and ours must pass check.
 */
class Qcow2WriteResizeTest {
    private static final Path DIR = Tools.CWD.resolve("target/qcow2-write-resize");

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

    /** {create options, old size, new size, preallocation}. */
    static Stream<Object[]> cases() {
        return Stream.of(
                new Object[] {"compat=1.1", "64M", "1G", "off"},
                new Object[] {"compat=1.1", "64M", "5000M", "metadata"},
                new Object[] {"compat=1.1", "64M", "200M", "falloc"},
                new Object[] {"compat=1.1", "64M", "100M", "full"},
                new Object[] {"compat=0.10", "64M", "700M", "metadata"},
                new Object[] {"cluster_size=512", "1M", "300M", "off"},
                new Object[] {"cluster_size=4096", "1M", "40M", "metadata"},
                new Object[] {"extended_l2=on", "64M", "2G", "off"},
                new Object[] {"compat=1.1", "1G", "30M", "off"},
                new Object[] {"cluster_size=512", "64M", "3M", "off"},
                new Object[] {"extended_l2=on", "64M", "1000000512", "off"},
                new Object[] {"compat=1.1", "64M", "20971520", "off"});
    }

    @ParameterizedTest(name = "{0} {1} -> {2} preallocation={3}")
    @MethodSource("cases")
    void sameAsQemuImgResize(String options, String from, String to, String prealloc) throws IOException {
        Path img = DIR.resolve("r.qcow2");
        long newSize = Qcow2WriteCreateTest.parseSize(to);
        boolean shrink = newSize < Qcow2WriteCreateTest.parseSize(from);
        make(img, options, from);
        if (shrink) {
            Tools.qemuImg("resize", "-q", "--shrink", img.toString(), to).orFail();
        } else {
            Tools.qemuImg("resize", "-q", "--preallocation=" + prealloc, img.toString(), to).orFail();
        }
        String qemuInfo = maskActualSize(Tools.qemuImg("info", "--output=json", img.toString()).orFail().stdout());
        String qemuMap = Tools.qemuImg("map", "--output=json", img.toString()).orFail().stdout();
        Path twin = DIR.resolve("qemu.qcow2");
        Files.deleteIfExists(twin);
        Files.move(img, twin);

        make(img, options, from);
        try (Qcow2Driver driver = Qcow2Driver.open(FileStorage.open(img.toString(), false),
                new OpenOptions(false, false, true))) {
            driver.writer().orElseThrow().resize(newSize, Preallocation.parse(prealloc));
            assertEquals(newSize, driver.virtualSize());
        }
        assertEquals(qemuInfo, maskActualSize(Tools.qemuImg("info", "--output=json", img.toString()).orFail().stdout()));
        assertEquals(qemuMap, Tools.qemuImg("map", "--output=json", img.toString()).orFail().stdout());
        Tools.qemuImg("compare", twin.toString(), img.toString()).orFail();
        Tools.qemuImg("check", img.toString()).orFail();
    }

    private static String maskActualSize(String info) {
        return info.replaceAll("\"actual-size\": \\d+", "\"actual-size\": N");
    }

    private static void make(Path img, String options, String size) throws IOException {
        Files.deleteIfExists(img);
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", options, img.toString(), size).orFail();
        long s = Qcow2WriteCreateTest.parseSize(size);
        Tools.qemuIo("-c", "write -P 0x33 0 " + Math.min(s, 1 << 20), "-c",
                "write -P 0x44 " + (s / 2) + " " + Math.min(s / 4, 3 << 20), img.toString()).orFail();
    }
}
