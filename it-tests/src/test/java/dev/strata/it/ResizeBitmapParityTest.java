package dev.strata.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static dev.strata.it.ImageRecipes.deleteTree;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code strata-img resize} of qcow2 images with persistent dirty bitmaps against real
 * {@code qemu-img resize} 7.2. A seed set (real qemu-img create/bitmap and qemu-io writes, one
 * image with bitmaps left in_use by a killed qemu-io) is made once; each case copies it to a work
 * directory, runs qemu-img, sets the directory aside, copies the seed again to the same paths and
 * runs strata-img. Output and exit code must match, every file must be byte-identical (a resize
 * that qemu refuses after its open still stores the bitmaps, as qemu's close does), and every
 * consistent bitmap must read the same through real qemu-nbd and nbdinfo --map.
 */
class ResizeBitmapParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/resize-bitmap-parity");
    private static final Path SEED = DIR.resolve("seed");
    private static final Path WORK = DIR.resolve("work");
    private static final Path QEMU_RESULT = DIR.resolve("qemu");

    @BeforeAll
    static void seed() throws IOException {
        Tools.requireTool("qemu-nbd");
        Tools.requireTool("nbdinfo");
        deleteTree(DIR);
        Files.createDirectories(SEED);
        String bm = SEED.resolve("bm.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", bm, "4M").orFail();
        Tools.qemuIo("-c", "write -P 1 0 1M", "-c", "write -P 2 3M 512k", bm).orFail();
        Tools.qemuImg("bitmap", "--add", bm, "b0").orFail();
        Tools.qemuImg("bitmap", "--add", "-g", "128k", bm, "b1").orFail();
        Tools.qemuImg("bitmap", "--add", "-g", "4k", bm, "b2").orFail();
        Tools.qemuImg("bitmap", "--disable", bm, "b1").orFail();
        Tools.qemuIo("-c", "write -P 3 512k 1M", "-c", "write 3900k 100k", "-c", "write -z 2M 8k", bm).orFail();
        String small = SEED.resolve("small.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", small, "2M").orFail();
        Tools.qemuImg("bitmap", "--add", "-g", "512", small, "fine").orFail();
        Tools.qemuIo("-c", "write -P 4 1k 3k", "-c", "write -P 5 1900k 148k", small).orFail();
        String used = SEED.resolve("used.qcow2").toString();
        Files.copy(Path.of(bm), Path.of(used));
        Tools.qemuIo("-c", "write -P 6 0 4k", "-c", "sigraise 9", used);
        String base = SEED.resolve("base.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", base, "8M").orFail();
        Tools.qemuIo("-c", "write -P 7 0 8M", base).orFail();
        String ov = SEED.resolve("ov.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", ov, "4M").orFail();
        Tools.qemuImg("bitmap", "--add", ov, "b0").orFail();
        Tools.qemuIo("-c", "write -P 8 1M 64k", ov).orFail();
    }

    static Stream<Arguments> cases() {
        List<Arguments> c = new ArrayList<>();
        add(c, "bm.qcow2", "bm.qcow2", "+3M");
        add(c, "bm.qcow2", "bm.qcow2", "+1000k");
        add(c, "bm.qcow2", "bm.qcow2", "2G");
        add(c, "bm.qcow2", "--shrink", "bm.qcow2", "2M");
        add(c, "bm.qcow2", "--shrink", "bm.qcow2", "1000k");
        add(c, "bm.qcow2", "--shrink", "bm.qcow2", "--", "-1M");
        add(c, "bm.qcow2", "--preallocation=falloc", "bm.qcow2", "+2M");
        add(c, "bm.qcow2", "--preallocation=full", "bm.qcow2", "6M");
        // the bitmaps stored on close continue the free-cluster search after the new clusters
        add(c, "bm.qcow2", "--preallocation=metadata", "bm.qcow2", "+3M");
        add(c, "bm.qcow2", "--preallocation=metadata", "bm.qcow2", "2G");
        add(c, "bm.qcow2", "--preallocation=falloc", "bm.qcow2", "2G");
        add(c, "bm.qcow2", "--preallocation=full", "bm.qcow2", "+1000k");
        add(c, "small.qcow2", "--preallocation=metadata", "small.qcow2", "20M");
        add(c, "small.qcow2", "--preallocation=falloc", "small.qcow2", "3M");
        add(c, "ov.qcow2", "--preallocation=metadata", "ov.qcow2", "+2M");
        add(c, "used.qcow2", "--preallocation=metadata", "used.qcow2", "+1M");
        // refusals after the open: the bitmaps are still stored when the image closes
        add(c, "bm.qcow2", "bm.qcow2", "1M");
        add(c, "bm.qcow2", "--preallocation=full", "--shrink", "bm.qcow2", "1M");
        add(c, "bm.qcow2", "bm.qcow2", "4194305");
        add(c, "small.qcow2", "small.qcow2", "20M");
        add(c, "small.qcow2", "--shrink", "small.qcow2", "1537k");
        // bitmaps left in_use: qemu refuses (the first inconsistent one in directory order)
        add(c, "used.qcow2", "used.qcow2", "+1M");
        add(c, "used.qcow2", "--shrink", "used.qcow2", "1M");
        // an overlay over a longer backing file: the new range is zeroed, which dirties nothing
        add(c, "ov.qcow2", "ov.qcow2", "+2M");
        add(c, "ov.qcow2", "--shrink", "ov.qcow2", "1M");
        return c.stream();
    }

    private static void add(List<Arguments> c, String image, String... args) {
        String[] full = new String[args.length + 1];
        full[0] = "resize";
        for (int i = 0; i < args.length; i++) {
            full[i + 1] = args[i].endsWith(".qcow2") ? WORK.resolve(args[i]).toString() : args[i];
        }
        c.add(Arguments.of(String.join(" ", args), image, full));
    }

    @ParameterizedTest(name = "resize {0}")
    @MethodSource("cases")
    void sameAsQemuImg(String label, String image, String[] args) throws IOException {
        copySeed();
        Tools.Result qemu = Tools.qemuImg(args);
        deleteTree(QEMU_RESULT);
        Files.move(WORK, QEMU_RESULT);
        copySeed();
        Tools.Result ours = InProcessCli.strataImg(args);
        Parity.assertSame(qemu, ours);

        Path theirs = QEMU_RESULT.resolve(image);
        Path mine = WORK.resolve(image);
        assertEquals(-1L, Files.mismatch(theirs, mine), "image bytes");
        String info = Tools.qemuImg("info", "--output=json", theirs.toString()).orFail().stdout();
        Matcher m = Pattern.compile("\"name\": \"([^\"]*)\"").matcher(info);
        while (m.find() && !info.contains("\"in-use\"")) {
            assertEquals(bitmapMap(theirs, m.group(1)), bitmapMap(mine, m.group(1)), "bitmap " + m.group(1));
        }
        Tools.qemuImg("check", mine.toString()).orFail();
    }

    private static String bitmapMap(Path image, String name) {
        return Tools.run("nbdinfo", "--map=qemu:dirty-bitmap:" + name, "--", "[", "qemu-nbd", "-r", "-f", "qcow2",
                "-B", name, image.toString(), "]").orFail().stdout();
    }

    private static void copySeed() throws IOException {
        deleteTree(WORK);
        Files.createDirectories(WORK);
        try (Stream<Path> files = Files.list(SEED)) {
            for (Path p : files.toList()) {
                Files.copy(p, WORK.resolve(p.getFileName()));
            }
        }
    }
}
