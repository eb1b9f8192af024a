package dev.strata.it;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static dev.strata.it.ImageRecipes.deleteTree;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code strata-img resize} against real {@code qemu-img resize} 7.2 on twins: the same set of
 * images is made (real qemu-img create and qemu-io writes) in a work directory; qemu-img resizes
 * it and the directory is set aside; the set is made again at the same paths and strata-img
 * resizes it. stdout, stderr and exit code must match; then, for the image that was resized,
 * real {@code qemu-img info --output=json} (actual size masked, the directory names unified) and
 * {@code map --output=json} of both must match, {@code qemu-img compare} must find them
 * identical and {@code qemu-img check} must pass on ours.
 */
class ResizeParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/resize-parity");
    private static final Path WORK = DIR.resolve("work");
    private static final Path QEMU_RESULT = DIR.resolve("qemu");

    static Stream<Arguments> cases() {
        List<Arguments> c = new ArrayList<>();
        // sizes: absolute, relative, shrinking with and without --shrink, -q, -- before the size
        add(c, "q.qcow2", "q.qcow2", "128M");
        add(c, "q.qcow2", "q.qcow2", "+1M");
        add(c, "q.qcow2", "q.qcow2", "+1000k");
        add(c, "q.qcow2", "-q", "q.qcow2", "+64M");
        add(c, "q.qcow2", "q.qcow2", "-1M");
        add(c, "q.qcow2", "q.qcow2", "--", "-1M");
        add(c, "q.qcow2", "--shrink", "q.qcow2", "-1M");
        add(c, "q.qcow2", "--shrink", "q.qcow2", "--", "-8M");
        add(c, "q.qcow2", "--shrink", "q.qcow2", "1M");
        add(c, "q.qcow2", "q.qcow2", "1M");
        add(c, "q.qcow2", "q.qcow2", "64M");
        add(c, "q.qcow2", "q.qcow2", "67109000");
        add(c, "q.qcow2", "-f", "qcow2", "q.qcow2", "+0x100000");
        add(c, "q.qcow2", "q.qcow2", "1.5G");
        // preallocation
        add(c, "q.qcow2", "--preallocation=metadata", "q.qcow2", "+10M");
        add(c, "q.qcow2", "--preallocation=falloc", "q.qcow2", "80M");
        add(c, "q.qcow2", "--preallocation=full", "q.qcow2", "+3M");
        add(c, "q.qcow2", "--preallocation=off", "q.qcow2", "+3M");
        add(c, "q.qcow2", "--preallocation=full", "q.qcow2", "1M");
        add(c, "q.qcow2", "--preallocation=full", "q.qcow2", "64M");
        add(c, "q.qcow2", "--preallocation=foo", "q.qcow2", "1G");
        add(c, "q.qcow2", "--preallocation", "q.qcow2");
        add(c, "r.raw", "-f", "raw", "r.raw", "+1M");
        add(c, "r.raw", "r.raw", "+1M");
        add(c, "r.raw", "-f", "raw", "r.raw", "10485761");
        add(c, "r.raw", "-f", "raw", "--shrink", "r.raw", "5M");
        add(c, "r.raw", "-f", "raw", "r.raw", "5M");
        add(c, "r.raw", "-f", "raw", "--preallocation=falloc", "r.raw", "20M");
        add(c, "r.raw", "-f", "raw", "--preallocation=full", "r.raw", "+3M");
        add(c, "r.raw", "-f", "raw", "--preallocation=metadata", "r.raw", "20M");
        add(c, "r.raw", "--preallocation=metadata", "r.raw", "20M");
        add(c, "r.raw", "--image-opts", "driver=raw,file.filename=" + WORK.resolve("r.raw"), "+1M");
        // sizes that are not sizes, overflow, or are not positive
        add(c, "q.qcow2", "q.qcow2", "1X");
        add(c, "q.qcow2", "q.qcow2", "-q");
        add(c, "q.qcow2", "q.qcow2", "-f");
        add(c, "q.qcow2", "q.qcow2", "+16E");
        add(c, "q.qcow2", "q.qcow2", "99999999999999999999");
        add(c, "q.qcow2", "q.qcow2", "+8E");
        add(c, "q.qcow2", "q.qcow2", "9E");
        add(c, "q.qcow2", "q.qcow2", "0");
        add(c, "q.qcow2", "q.qcow2", "--", "-100G");
        add(c, "q.qcow2", "q.qcow2", "-64M");
        // argument errors, format mismatch, missing files
        add(c, "q.qcow2", "q.qcow2");
        add(c, "q.qcow2", "q.qcow2", "128M", "extra");
        add(c, "q.qcow2", "-x", "q.qcow2", "1G");
        add(c, "q.qcow2", "--object", "secret", "q.qcow2", "1G");
        add(c, "q.qcow2", "--object", "secret,id=s0,data=x", "q.qcow2", "+1M");
        add(c, "r.raw", "-f", "qcow2", "r.raw", "1G");
        add(c, "q.qcow2", "-f", "raw", "q.qcow2", "1G");
        add(c, "q.qcow2", "missing.qcow2", "1G");
        add(c, "q.qcow2", "-f", "bogus", "q.qcow2", "1G");
        // backing files: growing past the old size over a longer backing file zeroes the new range
        add(c, "o.qcow2", "o.qcow2", "+1M");
        add(c, "o.qcow2", "o.qcow2", "100000k");
        add(c, "o.qcow2", "o.qcow2", "+100M");
        add(c, "o.qcow2", "--shrink", "o.qcow2", "32M");
        add(c, "m.qcow2", "m.qcow2", "+1M");
        // other layouts
        add(c, "v2.qcow2", "v2.qcow2", "+100M");
        add(c, "v2.qcow2", "--shrink", "v2.qcow2", "3M");
        add(c, "small.qcow2", "small.qcow2", "+1G");
        add(c, "small.qcow2", "--preallocation=metadata", "small.qcow2", "+2M");
        // internal snapshots (made by qemu-img snapshot -c): v3 images grow and shrink, the
        // snapshots keep their tables and sizes; v2 images with snapshots are refused
        add(c, "snap.qcow2", "snap.qcow2", "+4M");
        add(c, "snap.qcow2", "snap.qcow2", "64M");
        add(c, "snap.qcow2", "--shrink", "snap.qcow2", "5M");
        add(c, "snap.qcow2", "--shrink", "snap.qcow2", "1M");
        add(c, "snap.qcow2", "--shrink", "snap.qcow2", "--", "-3M");
        add(c, "snap.qcow2", "snap.qcow2", "--", "-1M");
        add(c, "snap.qcow2", "--preallocation=metadata", "snap.qcow2", "+2M");
        add(c, "snap.qcow2", "--preallocation=falloc", "snap.qcow2", "20M");
        add(c, "snap.qcow2", "--preallocation=full", "--shrink", "snap.qcow2", "5M");
        // a last partial cluster shared with the snapshots: metadata preallocation moves it to a
        // new cluster with its bytes copied (qemu's copy-on-write), the old one keeps them
        add(c, "snaptail.qcow2", "--preallocation=metadata", "snaptail.qcow2", "+512");
        add(c, "snaptail.qcow2", "--preallocation=metadata", "snaptail.qcow2", "+64k");
        add(c, "snaptail.qcow2", "snaptail.qcow2", "+512");
        add(c, "snaptail.qcow2", "--preallocation=falloc", "snaptail.qcow2", "+512");
        // a size that ends inside a cluster: preallocation maps that cluster anew and copies the
        // head the guest had there (the overlay's from its backing file), as qemu's
        // copy-on-write does; falloc/full leave the new clusters plain data over a longer backing
        add(c, "tail.qcow2", "--preallocation=falloc", "tail.qcow2", "+512");
        add(c, "tail.qcow2", "--preallocation=full", "tail.qcow2", "+64k");
        add(c, "tail.qcow2", "--preallocation=metadata", "tail.qcow2", "+64k");
        add(c, "tailover.qcow2", "--preallocation=falloc", "tailover.qcow2", "+64k");
        add(c, "tailover.qcow2", "--preallocation=full", "tailover.qcow2", "+512");
        add(c, "tailover.qcow2", "--preallocation=metadata", "tailover.qcow2", "+512");
        add(c, "tailover.qcow2", "--preallocation=metadata", "tailover.qcow2", "+64k");
        add(c, "tailover.qcow2", "tailover.qcow2", "+64k");
        add(c, "snap64.qcow2", "snap64.qcow2", "+1G");
        add(c, "snap64.qcow2", "--shrink", "snap64.qcow2", "1M");
        add(c, "v2snap.qcow2", "v2snap.qcow2", "+1M");
        add(c, "v2snap.qcow2", "--shrink", "v2snap.qcow2", "1M");
        return c.stream();
    }

    private static void add(List<Arguments> c, String image, String... args) {
        String[] full = new String[args.length + 1];
        full[0] = "resize";
        for (int i = 0; i < args.length; i++) {
            boolean file = args[i].endsWith(".qcow2") || args[i].endsWith(".raw");
            full[i + 1] = file && !args[i].contains("=") ? WORK.resolve(args[i]).toString() : args[i];
        }
        c.add(Arguments.of(String.join(" ", args), image, full));
    }

    @ParameterizedTest(name = "resize {0}")
    @MethodSource("cases")
    void sameAsQemuImg(String label, String image, String[] args) throws IOException {
        makeImages();
        Tools.Result qemu = Tools.qemuImg(args);
        deleteTree(QEMU_RESULT);
        Files.move(WORK, QEMU_RESULT);
        makeImages();
        Tools.Result ours = InProcessCli.strataImg(args);
        Parity.assertSame(qemu, ours);

        Path theirs = QEMU_RESULT.resolve(image);
        Path mine = WORK.resolve(image);
        if (image.startsWith("m.") || !Files.exists(mine)) {
            return; // the backing file is missing: nothing opens
        }
        String fmt = image.endsWith(".raw") ? "raw" : "qcow2";
        assertEquals(info(theirs, fmt).replace(QEMU_RESULT.toString(), WORK.toString()), info(mine, fmt), "info");
        assertEquals(Tools.qemuImg("map", "-f", fmt, "--output=json", theirs.toString()).orFail().stdout(),
                Tools.qemuImg("map", "-f", fmt, "--output=json", mine.toString()).orFail().stdout(), "map");
        Tools.qemuImg("compare", "-f", fmt, "-F", fmt, theirs.toString(), mine.toString()).orFail();
        if (fmt.equals("qcow2")) {
            Tools.qemuImg("check", mine.toString()).orFail();
        }
        if (image.startsWith("snap") && qemu.exitCode() == 0) {
            for (String snapshot : List.of("s1", "s2")) {
                revertsAlike(snapshot, theirs, mine);
            }
        }
    }

    /**
     * Real {@code qemu-img snapshot -a} of {@code snapshot} on both resized images: the same
     * output, then the same info, map and content, and a clean check of ours.
     */
    private static void revertsAlike(String snapshot, Path theirs, Path mine) {
        Tools.Result q = Tools.qemuImg("snapshot", "-a", snapshot, theirs.toString());
        Tools.Result s = Tools.qemuImg("snapshot", "-a", snapshot, mine.toString());
        assertEquals(q.exitCode() + q.stdout() + q.stderr().replace(QEMU_RESULT.toString(), WORK.toString()),
                s.exitCode() + s.stdout() + s.stderr(), "snapshot -a " + snapshot);
        assertEquals(info(theirs, "qcow2").replace(QEMU_RESULT.toString(), WORK.toString()), info(mine, "qcow2"),
                "info after snapshot -a " + snapshot);
        assertEquals(Tools.qemuImg("map", "--output=json", theirs.toString()).orFail().stdout(),
                Tools.qemuImg("map", "--output=json", mine.toString()).orFail().stdout(),
                "map after snapshot -a " + snapshot);
        Tools.qemuImg("compare", theirs.toString(), mine.toString()).orFail();
        Tools.qemuImg("check", mine.toString()).orFail();
    }

    /**
     * Real info of {@code image}: actual size masked, and snapshot dates (the twins' snapshots
     * are made at different moments).
     */
    private static String info(Path image, String fmt) {
        return Tools.qemuImg("info", "-f", fmt, "--output=json", image.toString()).orFail().stdout()
                .replaceAll("\"actual-size\": \\d+", "\"actual-size\": N")
                .replaceAll("\"date-(sec|nsec)\": \\d+", "\"date-$1\": N");
    }

    /** The twin set: every case starts from these, made by the real tools. */
    private static void makeImages() throws IOException {
        deleteTree(WORK);
        Files.createDirectories(WORK);
        String q = WORK.resolve("q.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", q, "64M").orFail();
        Tools.qemuIo("-c", "write -P 0x33 0 1M", "-c", "write -P 0x44 40M 3M", "-c", "write -P 0x55 63M 1M", q)
                .orFail();
        String r = WORK.resolve("r.raw").toString();
        Tools.qemuImg("create", "-q", "-f", "raw", r, "10M").orFail();
        Tools.qemuIo("-f", "raw", "-c", "write -P 0x66 1M 2M", "-c", "write -P 0x67 9M 1M", r).orFail();
        String b = WORK.resolve("b.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", b, "128M").orFail();
        Tools.qemuIo("-c", "write -P 0x11 0 128M", b).orFail();
        String o = WORK.resolve("o.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", o, "64M").orFail();
        Tools.qemuIo("-c", "write -P 0x22 60M 100k", "-c", "write -P 0x23 63M 1M", o).orFail();
        Tools.qemuImg("create", "-q", "-u", "-f", "qcow2", "-b", "missing.qcow2", "-F", "qcow2",
                WORK.resolve("m.qcow2").toString(), "64M").orFail();
        String v2 = WORK.resolve("v2.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "16M").orFail();
        Tools.qemuIo("-c", "write -P 0x77 0 5M", v2).orFail();
        String small = WORK.resolve("small.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", small, "8M").orFail();
        Tools.qemuIo("-c", "write -P 0x78 4k 6M", small).orFail();
        String snap = WORK.resolve("snap.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", snap, "16M").orFail();
        Tools.qemuIo("-c", "write -P 0x81 0 12M", snap).orFail();
        Tools.qemuImg("snapshot", "-c", "s1", snap).orFail();
        Tools.qemuIo("-c", "write -P 0x82 2M 4M", "-c", "discard 8M 1M", snap).orFail();
        Tools.qemuImg("snapshot", "-c", "s2", snap).orFail();
        Tools.qemuIo("-c", "write -P 0x83 10M 1M", "-c", "write -P 0x84 15M 1M", snap).orFail();
        String snap64 = WORK.resolve("snap64.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", snap64, "4M").orFail();
        Tools.qemuIo("-c", "write -P 0x91 0 3M", snap64).orFail();
        Tools.qemuImg("snapshot", "-c", "s1", snap64).orFail();
        Tools.qemuIo("-c", "write -P 0x92 1M 1M", snap64).orFail();
        Tools.qemuImg("snapshot", "-c", "s2", snap64).orFail();
        String snaptail = WORK.resolve("snaptail.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", snaptail, "10000").orFail();
        Tools.qemuIo("-c", "write -P 0x85 0 10000", snaptail).orFail();
        Tools.qemuImg("snapshot", "-c", "s1", snaptail).orFail();
        Tools.qemuIo("-c", "write -P 0x86 0 4096", snaptail).orFail();
        Tools.qemuImg("snapshot", "-c", "s2", snaptail).orFail();
        String tail = WORK.resolve("tail.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", tail, "10000").orFail();
        Tools.qemuIo("-c", "write -P 0x87 0 10000", tail).orFail();
        String tailBack = WORK.resolve("tailback.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", tailBack, "200000").orFail();
        Tools.qemuIo("-c", "write -P 0x88 0 200000", tailBack).orFail();
        String tailOver = WORK.resolve("tailover.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", "-b", "tailback.qcow2", "-F", "qcow2",
                tailOver, "10000").orFail();
        Tools.qemuIo("-c", "write -P 0x89 0 3000", tailOver).orFail();
        String v2snap = WORK.resolve("v2snap.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2snap, "4M").orFail();
        Tools.qemuIo("-c", "write -P 0x93 0 1M", v2snap).orFail();
        Tools.qemuImg("snapshot", "-c", "s1", v2snap).orFail();
    }
}
