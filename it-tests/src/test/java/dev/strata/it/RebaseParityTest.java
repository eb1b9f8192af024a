package dev.strata.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static dev.strata.it.ImageRecipes.create;
import static dev.strata.it.ImageRecipes.deleteTree;
import static dev.strata.it.ImageRecipes.io;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code strata-img rebase} against real {@code qemu-img rebase} 7.2 on twins. One tree of
 * images is made once by the real tools (qemu-img create, qemu-io writes): old and new backing
 * files in {@code base/} that differ in some clusters (data, zero clusters, a partial sector),
 * shorter and longer ones, a raw one, an intermediate layer; images in {@code img/} over them
 * with relative names ("../base/b1.qcow2"), allocating some of the differing clusters, in v3,
 * v2, extended-L2 and 512-byte-cluster variants. For each case the tree is copied to the work
 * directory, qemu-img rebases it and the result is set aside; the tree is copied again to the
 * same paths and strata-img rebases it. Then:
 * <ul>
 *   <li>stdout (progress lines included), stderr and exit code match;</li>
 *   <li>every file of the tree is byte-identical to qemu's result;</li>
 *   <li>after a safe rebase (successful, or failing only at the header change) real
 *       {@code qemu-img compare} finds the guest view of the untouched original; real
 *       {@code qemu-img check} gives ours the verdict it gives qemu's;</li>
 *   <li>bad input leaves the image as qemu leaves it: unchanged.</li>
 * </ul>
 */
class RebaseParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/rebase-parity");
    private static final Path TEMPLATE = DIR.resolve("template");
    private static final Path WORK = DIR.resolve("work");
    private static final Path QEMU_RESULT = DIR.resolve("qemu");
    private static final String B2 = "../base/b2.qcow2";

    static Stream<Arguments> cases() {
        List<Arguments> c = new ArrayList<>();
        // safe rebase between backing files that differ; relative names resolved against img/
        add(c, "ov", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-p", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-q", "-p", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-f", "qcow2", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-b", DIR.resolve("work/base/b2.qcow2").toString(), "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-b", "../base/large.qcow2", "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-p", "-b", "../base/small.qcow2", "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-b", "../base/b.raw", "-F", "raw", "img/ov.qcow2");
        add(c, "ov", "-b", "../base/mid.qcow2", "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-t", "writethrough", "-T", "unsafe", "-U", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "--object", "secret,id=s0,data=x", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "--image-opts", "-b", B2, "-F", "qcow2",
                "driver=qcow2,file.filename=" + WORK.resolve("img/ov.qcow2"));
        add(c, "ov", "-b", B2, "-F", "qcow2", "target/rebase-parity/work/img/ov.qcow2");
        // without -F the data is copied, then the header change fails
        add(c, "ov", "-b", B2, "img/ov.qcow2");
        add(c, "ov", "-p", "-b", B2, "img/ov.qcow2");
        // dropping the backing file: what the old one provided is copied
        add(c, "ov", "-b", "", "img/ov.qcow2");
        add(c, "ov", "-p", "-b", "", "-F", "qcow2", "img/ov.qcow2");
        add(c, "v2", "-b", "", "img/v2.qcow2");
        add(c, "v2", "-b", B2, "-F", "qcow2", "img/v2.qcow2");
        add(c, "v2", "-b", "../base/large.qcow2", "-F", "qcow2", "img/v2.qcow2");
        add(c, "xl", "-b", B2, "-F", "qcow2", "img/xl.qcow2");
        add(c, "xl", "-p", "-b", "", "img/xl.qcow2");
        add(c, "c512", "-p", "-b", B2, "-F", "qcow2", "img/c512.qcow2");
        add(c, "short", "-b", B2, "-F", "qcow2", "img/short.qcow2");
        add(c, "short", "-b", "", "img/short.qcow2");
        add(c, "nb", "-p", "-b", B2, "-F", "qcow2", "img/nb.qcow2");
        add(c, "nb", "-b", "", "img/nb.qcow2");
        // the new backing file is a layer of the image's own chain
        add(c, "top", "-p", "-b", "../base/b1.qcow2", "-F", "qcow2", "img/top.qcow2");
        add(c, "top", "-b", "../base/mid.qcow2", "-F", "qcow2", "img/top.qcow2");
        add(c, "top", "-b", "", "img/top.qcow2");
        // unsafe: the header only
        add(c, "ov", "-u", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-u", "-b", "nowhere.qcow2", "-F", "vmdk", "img/ov.qcow2");
        add(c, "ov", "-u", "-b", B2, "img/ov.qcow2");
        add(c, "ov", "-u", "-b", "", "img/ov.qcow2");
        add(c, "ov", "-u", "-b", "", "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-u", "img/ov.qcow2");
        add(c, "v2", "-u", "-p", "-b", B2, "-F", "qcow2", "img/v2.qcow2");
        add(c, "m", "-u", "-b", B2, "-F", "qcow2", "img/m.qcow2");
        add(c, "c512", "-u", "-b", "x".repeat(400), "-F", "qcow2", "img/c512.qcow2");
        add(c, "ov", "-u", "-b", "x".repeat(1100), "-F", "qcow2", "img/ov.qcow2");
        // bad input: nothing changes
        add(c, "m", "-b", B2, "-F", "qcow2", "img/m.qcow2");
        add(c, "m", "-p", "-b", B2, "-F", "qcow2", "img/m.qcow2");
        add(c, "ov", "-b", "../base/missing.qcow2", "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-b", "../base/b.raw", "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-b", B2, "-F", "foo", "img/ov.qcow2");
        add(c, "ov", "-u", "-b", B2, "-F", "foo", "img/ov.qcow2");
        add(c, "r", "-b", B2, "-F", "qcow2", "img/r.raw");
        add(c, "r", "-f", "raw", "-u", "-b", "", "img/r.raw");
        add(c, "ov", "-f", "raw", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-b", B2, "-F", "qcow2", "img/missing.qcow2");
        add(c, "ov", "-p", "-t", "bogus", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-T", "bogus", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "-c", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        add(c, "ov", "img/ov.qcow2");
        add(c, "ov", "-b", B2);
        add(c, "ov", "-b", B2, "img/ov.qcow2", "img/v2.qcow2");
        add(c, "ov", "-b");
        add(c, "ov", "--image-opts", "-f", "qcow2", "-b", B2, "-F", "qcow2", "img/ov.qcow2");
        return c.stream();
    }

    private static void add(List<Arguments> c, String image, String... args) {
        String[] full = new String[args.length + 1];
        full[0] = "rebase";
        for (int i = 0; i < args.length; i++) {
            full[i + 1] = args[i].startsWith("img/") ? WORK.resolve(args[i]).toString() : args[i];
        }
        String label = String.join(" ", args);
        c.add(Arguments.of(label.length() > 120 ? label.substring(0, 120) + "..." : label, image, full));
    }

    @BeforeAll
    static void makeTemplate() throws IOException {
        deleteTree(DIR);
        Files.createDirectories(TEMPLATE.resolve("base"));
        Files.createDirectories(TEMPLATE.resolve("img"));
        String b1 = base("b1.qcow2");
        create(b1, "8M");
        io(b1, "write -P 0x11 0 8M", "write -z 6M 256k");
        String b2 = base("b2.qcow2");
        create(b2, "8M");
        io(b2, "write -P 0x11 0 4M", "write -P 0x22 4M 1M", "write -P 0x11 5M 512", "write -P 0x11 5246976 1M",
                "write -P 0x11 6M 2M");
        String small = base("small.qcow2");
        create(small, "3146240"); // 3 MiB + 512
        io(small, "write -P 0x11 0 3M", "write -P 0x12 3M 512");
        String large = base("large.qcow2");
        create(large, "12M");
        io(large, "write -P 0x11 0 12M", "write -P 0x33 2M 64k", "write -z 5M 1M");
        String raw = base("b.raw");
        Tools.qemuImg("create", "-q", "-f", "raw", raw, "8M").orFail();
        Tools.qemuIo("-f", "raw", "-c", "write -P 0x11 0 2M", "-c", "write -P 0x13 7M 512", raw).orFail();
        String mid = base("mid.qcow2");
        create(mid, "8M", "-b", "b1.qcow2", "-F", "qcow2");
        io(mid, "write -P 0x44 1M 128k", "write -z 3M 64k", "write -P 0x45 4M 32k");
        String ov = img("ov.qcow2");
        create(ov, "8M", "-b", "../base/b1.qcow2", "-F", "qcow2");
        io(ov, "write -P 0x55 4M 64k", "write -z 7M 64k", "write -P 0x56 5251072 100k");
        String v2 = img("v2.qcow2");
        create(v2, "8M", "-o", "compat=0.10", "-b", "../base/b1.qcow2", "-F", "qcow2");
        io(v2, "write -P 0x55 4M 64k", "write -P 0x56 6295552 4k");
        String xl = img("xl.qcow2");
        create(xl, "8M", "-o", "extended_l2=on", "-b", "../base/b1.qcow2", "-F", "qcow2");
        io(xl, "write -P 0x57 4M 4k", "write -P 0x57 4235264 2k", "write -z 6356992 8k");
        String c512 = img("c512.qcow2");
        create(c512, "8M", "-o", "cluster_size=512", "-b", "../base/b1.qcow2", "-F", "qcow2");
        io(c512, "write -P 0x69 4194816 4k");
        String top = img("top.qcow2");
        create(top, "8M", "-b", "../base/mid.qcow2", "-F", "qcow2");
        io(top, "write -P 0x66 0 64k", "write -P 0x66 1114112 4k");
        String shortImg = img("short.qcow2");
        create(shortImg, "8M", "-b", "../base/small.qcow2", "-F", "qcow2");
        io(shortImg, "write -P 0x67 0 64k");
        String nb = img("nb.qcow2");
        create(nb, "8M");
        io(nb, "write -P 0x68 1M 64k");
        Tools.qemuImg("create", "-q", "-u", "-f", "qcow2", "-b", "missing.qcow2", "-F", "qcow2", img("m.qcow2"),
                "8M").orFail();
        String r = img("r.raw");
        Tools.qemuImg("create", "-q", "-f", "raw", r, "8M").orFail();
        Tools.qemuIo("-f", "raw", "-c", "write -P 0x70 0 1M", r).orFail();
    }

    @ParameterizedTest(name = "rebase {0}")
    @MethodSource("cases")
    void sameAsQemuImg(String label, String image, String[] args) throws IOException {
        deleteTree(WORK);
        copyTree(TEMPLATE, WORK);
        Tools.Result qemu = Tools.qemuImg(args);
        deleteTree(QEMU_RESULT);
        Files.move(WORK, QEMU_RESULT);
        copyTree(TEMPLATE, WORK);
        Tools.Result ours = InProcessCli.strataImg(args);
        Parity.assertSame(qemu, ours);

        List<Path> files;
        try (Stream<Path> s = Files.walk(QEMU_RESULT)) {
            files = s.filter(Files::isRegularFile).sorted().toList();
        }
        for (Path theirs : files) {
            Path mine = WORK.resolve(QEMU_RESULT.relativize(theirs));
            assertEquals(-1L, Files.mismatch(theirs, mine), () -> "bytes of " + mine);
        }
        String name = image.equals("r") ? "img/r.raw" : "img/" + image + ".qcow2";
        Path mine = WORK.resolve(name);
        Path original = TEMPLATE.resolve(name);
        boolean changed = !Arrays.equals(Files.readAllBytes(original), Files.readAllBytes(mine));
        boolean safe = !Arrays.asList(args).contains("-u");
        if (!changed || !safe || image.equals("r") || image.equals("m")) {
            return;
        }
        // the guest view is what it was before, whichever backing file the header now names
        Tools.qemuImg("compare", original.toString(), mine.toString()).orFail();
        Tools.Result check = Tools.qemuImg("check", mine.toString());
        Tools.Result theirCheck = Tools.qemuImg("check", QEMU_RESULT.resolve(name).toString());
        assertEquals(theirCheck.exitCode() + theirCheck.stdout(), check.exitCode() + check.stdout(), "check");
    }

    private static String base(String name) {
        return TEMPLATE.resolve("base").resolve(name).toString();
    }

    private static String img(String name) {
        return TEMPLATE.resolve("img").resolve(name).toString();
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path p : paths.sorted().toList()) {
                Files.copy(p, to.resolve(from.relativize(p)));
            }
        }
    }
}
