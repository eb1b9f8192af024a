package dev.strata.it;

/*
 * Design note: zero writes through the engine against real qemu-io's `write -z` (and `-z -u`,
 * may-unmap) on twins of one image. qemu's block layer cuts a zero write at the subcluster
 * alignment and its qcow2 driver widens an unaligned piece to its whole (sub)cluster when the
 * rest already reads as zeros (else the piece is written as zero bytes); extended L2 images get
 * zero subclusters. Both twins must end byte for byte the same file, so the same metadata choices
 * and the same allocations; qemu-img map and check agree as a consequence.
 */

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

class Qcow2WriteZeroesParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/qcow2-write-zeroes");

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

    /** {label, create options, size, backing?, zero writes "offset length [u]"}. */
    static Stream<Arguments> cases() {
        List<Arguments> c = new ArrayList<>();
        String[] ops = {
            "4096 4096", "65536 65536", "131072 4096 u", "200000 100000", "300000 1", "70000 500000 u",
            "1048576 2048", "1052672 61440", "2097152 1048576 u", "3145728 100",
        };
        c.add(Arguments.of("v3 64k", "compat=1.1", "8M", false, ops));
        c.add(Arguments.of("v3 4k clusters", "cluster_size=4096", "8M", false, ops));
        c.add(Arguments.of("extended l2 64k", "extended_l2=on", "8M", false, ops));
        c.add(Arguments.of("extended l2 32k", "extended_l2=on,cluster_size=32k", "8M", false, ops));
        c.add(Arguments.of("v2", "compat=0.10", "8M", false, ops));
        c.add(Arguments.of("v3 backing", "compat=1.1", "8M", true, ops));
        c.add(Arguments.of("v2 backing", "compat=0.10", "8M", true, ops));
        c.add(Arguments.of("extended l2 backing", "extended_l2=on", "8M", true, ops));
        c.add(Arguments.of("unaligned end", "compat=1.1", "1000000", false,
                new String[] {"990000 10000", "900000 100000 u", "65536 934464"}));
        c.add(Arguments.of("extended unaligned end", "extended_l2=on", "1000000", false,
                new String[] {"999000 1000", "983040 17000 u", "1000 998000"}));
        return c.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void zeroWritesMatchQemuIo(String label, String options, String size, boolean backing, String[] ops)
            throws IOException {
        String name = label.replace(' ', '-');
        Path img = DIR.resolve(name + ".qcow2");
        Path base = DIR.resolve(name + ".base.qcow2");
        Files.deleteIfExists(img);
        if (backing) {
            Files.deleteIfExists(base);
            Tools.qemuImg("create", "-q", "-f", "qcow2", base.toString(), size).orFail();
            Tools.qemuIo("-c", "write -P 0x5a 0 1M", "-c", "write -P 0x6b 2M 512k", base.toString()).orFail();
            Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", options, "-b", base.getFileName().toString(),
                    "-F", "qcow2", img.toString(), size).orFail();
        } else {
            Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", options, img.toString(), size).orFail();
        }
        // Some data and zero clusters for the zero writes to meet.
        if (size.endsWith("M")) {
            Tools.qemuIo("-c", "write -P 0x11 64k 128k", "-c", "write -P 0x22 1M 8k", "-c", "write -z 3M 64k",
                    "-c", "write -P 0x33 3200k 4k", img.toString()).orFail();
        } else {
            Tools.qemuIo("-c", "write -P 0x11 64k 128k", "-c", "write -z 512k 64k", "-c", "write -P 0x22 960000 8k",
                    img.toString()).orFail();
        }
        Path qemuTwin = DIR.resolve(name + ".qemu.qcow2");
        Path ourTwin = DIR.resolve(name + ".ours.qcow2");
        Files.copy(img, qemuTwin, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.copy(img, ourTwin, java.nio.file.StandardCopyOption.REPLACE_EXISTING);

        List<String> io = new ArrayList<>();
        for (String op : ops) {
            String[] f = op.split(" ");
            io.add("-c");
            io.add("write -z" + (f.length > 2 ? " -u " : " ") + f[0] + " " + f[1]);
        }
        io.add(qemuTwin.toString());
        Tools.qemuIo(io.toArray(new String[0])).orFail();
        try (Image image = ChainOpener.standard().open(ourTwin.toString(), "qcow2", new OpenOptions(false, false, false))) {
            for (String op : ops) {
                String[] f = op.split(" ");
                image.writeZeroes(Long.parseLong(f[0]), Long.parseLong(f[1]), f.length > 2);
            }
        }
        assertEquals(Tools.qemuImg("map", "--output=json", qemuTwin.toString()).orFail().stdout()
                        .replace(qemuTwin.toString(), "X"),
                Tools.qemuImg("map", "--output=json", ourTwin.toString()).orFail().stdout()
                        .replace(ourTwin.toString(), "X"), label + ": map");
        assertEquals(0, Tools.qemuImg("compare", qemuTwin.toString(), ourTwin.toString()).exitCode(), label);
        assertEquals(0, Tools.qemuImg("check", ourTwin.toString()).exitCode(), label + ": check");
        assertEquals(-1L, Files.mismatch(qemuTwin, ourTwin), label + ": image bytes");
    }
}
