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
import java.util.stream.Stream;

import static dev.strata.it.ImageRecipes.create;
import static dev.strata.it.ImageRecipes.deleteTree;
import static dev.strata.it.ImageRecipes.io;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code strata-img amend} against real {@code qemu-img amend} 7.2 on twins: the case's image
 * (and what it needs: backing file, external data file) is made by the real tools in a work
 * directory and a pristine copy is kept (snapshots carry creation times, so the twins are copies
 * of one image, not two runs); qemu-img amends the work directory, which is then set aside; the
 * pristine copy is put back at the same paths and strata-img amends it. Then:
 * <ul>
 *   <li>stdout (progress lines included), stderr and exit code match;</li>
 *   <li>every file of the directory is byte-identical to qemu's result (qemu's amend is
 *       deterministic: same allocator, same header layout);</li>
 *   <li>a failed amend leaves the image as qemu leaves it: unchanged for images without
 *       persistent bitmaps (checked against the pristine copy), with its bitmaps stored again
 *       otherwise (qemu's close stores them whatever the amend did);</li>
 *   <li>on success, real {@code qemu-img check} passes on ours and {@code qemu-img compare}
 *       finds the guest content of the pristine copy (unless the case shrinks the image).</li>
 * </ul>
 */
class AmendParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/amend-parity");
    private static final Path WORK = DIR.resolve("work");
    private static final Path QEMU_RESULT = DIR.resolve("qemu");
    private static final Path ORIGINAL = DIR.resolve("original");
    /** Each image set as the real tools made it for the first case that needed it in this run. */
    private static final Path MADE = DIR.resolve("made");

    static Stream<Arguments> cases() {
        List<Arguments> c = new ArrayList<>();
        // compat down and up
        add(c, "q.qcow2", "-o", "compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "-p", "-o", "compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "-o", "compat=v2", "q.qcow2");
        add(c, "q.qcow2", "-o", "compat=1.1", "q.qcow2");
        add(c, "q.qcow2", "-o", "compat=0.10", "-o", "compat=1.1", "q.qcow2");
        add(c, "v2.qcow2", "-o", "compat=1.1", "v2.qcow2");
        add(c, "v2.qcow2", "-p", "-o", "compat=v3", "v2.qcow2");
        add(c, "v2.qcow2", "-o", "compat=0.10", "v2.qcow2");
        add(c, "s.qcow2", "-o", "compat=0.10", "s.qcow2");
        add(c, "s.qcow2", "-p", "-o", "compat=0.10", "s.qcow2");
        add(c, "v2s.qcow2", "-p", "-o", "compat=1.1", "v2s.qcow2");
        add(c, "o.qcow2", "-o", "compat=0.10", "o.qcow2");
        add(c, "o.qcow2", "-p", "-o", "compat=0.10", "o.qcow2");
        add(c, "os.qcow2", "-o", "compat=0.10", "os.qcow2");
        add(c, "z.qcow2", "-o", "compat=0.10", "z.qcow2");
        add(c, "zn.qcow2", "-o", "compat=0.10", "zn.qcow2");
        add(c, "d.qcow2", "-o", "compat=0.10", "d.qcow2");
        add(c, "e.qcow2", "-o", "compat=0.10", "e.qcow2");
        add(c, "r8.qcow2", "-o", "compat=0.10", "r8.qcow2");
        add(c, "lazy.qcow2", "-o", "compat=0.10", "lazy.qcow2");
        add(c, "c512.qcow2", "-o", "compat=0.10", "c512.qcow2");
        add(c, "c4k.qcow2", "-p", "-o", "compat=0.10", "c4k.qcow2");
        add(c, "c2m.qcow2", "-o", "compat=0.10", "c2m.qcow2");
        // lazy refcounts
        add(c, "q.qcow2", "-o", "lazy_refcounts=on", "q.qcow2");
        add(c, "q.qcow2", "-o", "lazy_refcounts=off", "q.qcow2");
        add(c, "lazy.qcow2", "-o", "lazy_refcounts=off", "lazy.qcow2");
        add(c, "v2.qcow2", "-o", "lazy_refcounts=on", "v2.qcow2");
        add(c, "v2.qcow2", "-o", "compat=1.1,lazy_refcounts=on", "v2.qcow2");
        add(c, "q.qcow2", "-o", "compat=0.10,lazy_refcounts=on", "q.qcow2");
        add(c, "e.qcow2", "-o", "lazy_refcounts=on", "e.qcow2");
        // refcount width
        for (String bits : new String[] {"1", "2", "4", "8", "32", "64"}) {
            add(c, "q.qcow2", "-o", "refcount_bits=" + bits, "q.qcow2");
        }
        add(c, "q.qcow2", "-p", "-o", "refcount_bits=8", "q.qcow2");
        add(c, "s.qcow2", "-o", "refcount_bits=1", "s.qcow2");
        add(c, "s.qcow2", "-o", "refcount_bits=2", "s.qcow2");
        add(c, "s.qcow2", "-p", "-o", "refcount_bits=64", "s.qcow2");
        add(c, "r8.qcow2", "-o", "refcount_bits=16", "r8.qcow2");
        add(c, "r8.qcow2", "-p", "-o", "compat=0.10,refcount_bits=16", "r8.qcow2");
        add(c, "v2.qcow2", "-o", "refcount_bits=8", "v2.qcow2");
        add(c, "v2.qcow2", "-p", "-o", "compat=1.1,refcount_bits=4", "v2.qcow2");
        add(c, "q.qcow2", "-o", "refcount_bits=3", "q.qcow2");
        add(c, "q.qcow2", "-o", "refcount_bits=128", "q.qcow2");
        add(c, "q.qcow2", "-o", "refcount_bits=0", "q.qcow2");
        add(c, "c4k.qcow2", "-o", "refcount_bits=32", "c4k.qcow2");
        add(c, "e.qcow2", "-o", "refcount_bits=8", "e.qcow2");
        add(c, "d.qcow2", "-o", "refcount_bits=4", "d.qcow2");
        // external data file
        add(c, "d.qcow2", "-o", "data_file_raw=on", "d.qcow2");
        add(c, "dr.qcow2", "-o", "data_file_raw=off", "dr.qcow2");
        add(c, "dr.qcow2", "-o", "data_file_raw=on", "dr.qcow2");
        add(c, "d.qcow2", "-o", "data_file=" + WORK.resolve("d.data"), "d.qcow2");
        add(c, "d.qcow2", "-o", "data_file=other.data", "d.qcow2");
        add(c, "q.qcow2", "-o", "data_file=x.data", "q.qcow2");
        add(c, "q.qcow2", "-o", "data_file_raw=off", "q.qcow2");
        add(c, "q.qcow2", "-o", "data_file_raw=on", "q.qcow2");
        // size
        add(c, "q.qcow2", "-o", "size=128M", "q.qcow2");
        addShrinking(c, "q.qcow2", "-o", "size=32M", "q.qcow2");
        add(c, "q.qcow2", "-o", "size=100000", "q.qcow2");
        add(c, "q.qcow2", "-o", "size=0", "q.qcow2");
        add(c, "o.qcow2", "-o", "size=128M", "o.qcow2");
        addShrinking(c, "q.qcow2", "-p", "-o", "compat=0.10,size=16M", "q.qcow2");
        add(c, "v2.qcow2", "-o", "size=32M", "v2.qcow2");
        add(c, "q.qcow2", "-o", "size=64M,lazy_refcounts=on,refcount_bits=8", "q.qcow2");
        // backing file
        add(c, "q.qcow2", "-o", "backing_file=foo", "q.qcow2");
        add(c, "o.qcow2", "-o", "backing_file=b.qcow2,backing_fmt=qcow2", "o.qcow2");
        add(c, "o.qcow2", "-o", "backing_file=b.qcow2", "o.qcow2");
        add(c, "o.qcow2", "-o", "backing_fmt=raw", "o.qcow2");
        add(c, "m.qcow2", "-o", "compat=0.10", "m.qcow2");
        // options amend does not take, bad values
        add(c, "q.qcow2", "-o", "cluster_size=4k", "q.qcow2");
        add(c, "q.qcow2", "-o", "preallocation=full", "q.qcow2");
        add(c, "q.qcow2", "-o", "encrypt.format=luks", "q.qcow2");
        add(c, "q.qcow2", "-o", "encrypt.new-secret=x", "q.qcow2");
        add(c, "q.qcow2", "-o", "compat=0.10,encrypt.keyslot=1", "q.qcow2");
        add(c, "q.qcow2", "-o", "foo=bar", "q.qcow2");
        add(c, "q.qcow2", "-o", "lazy_refcounts=maybe", "q.qcow2");
        add(c, "q.qcow2", "-o", "compat=0.9", "q.qcow2");
        add(c, "q.qcow2", "-o", "compat=", "q.qcow2");
        add(c, "q.qcow2", "-o", "size=12X", "q.qcow2");
        add(c, "q.qcow2", "-o", "refcount_bits=3,compat=0.9", "q.qcow2");
        // option help
        add(c, "q.qcow2", "-o", "help", "q.qcow2");
        add(c, "q.qcow2", "-o", "lazy_refcounts=on,?", "q.qcow2");
        add(c, "q.qcow2", "-f", "qcow2", "-o", "help");
        add(c, "q.qcow2", "-p", "-f", "qcow2", "-o", "help");
        add(c, "q.qcow2", "-f", "raw", "-o", "help");
        add(c, "q.qcow2", "-f", "luks", "-o", "help");
        add(c, "q.qcow2", "-f", "vmdk", "-o", "help");
        add(c, "q.qcow2", "-f", "foo", "-o", "help");
        // raw images
        add(c, "r.raw", "-o", "size=2M", "r.raw");
        add(c, "r.raw", "-f", "raw", "-o", "size=2M", "r.raw");
        add(c, "r.raw", "-f", "raw", "-o", "help", "r.raw");
        // command line
        add(c, "q.qcow2", "q.qcow2");
        add(c, "q.qcow2", "-p", "-o", "compat=0.10");
        add(c, "q.qcow2", "-o", "compat=0.10", "q.qcow2", "q.qcow2");
        add(c, "q.qcow2", "-t", "bad", "-o", "compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "-t", "unsafe", "-o", "compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "-t", "writethrough", "-o", "lazy_refcounts=on", "q.qcow2");
        add(c, "q.qcow2", "-q", "-p", "-o", "compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "-f", "qcow2", "-o", "compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "-f", "raw", "-o", "compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "--image-opts", "-o", "compat=0.10",
                "driver=qcow2,file.filename=" + WORK.resolve("q.qcow2"));
        add(c, "q.qcow2", "-o", "compat=0.10", "missing.qcow2");
        add(c, "q.qcow2", "-o", ",compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "-x", "-o", "compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "q.qcow2", "-o");
        add(c, "q.qcow2", "--force", "-o", "compat=0.10", "q.qcow2");
        add(c, "q.qcow2", "--object", "secret,id=s0,data=x", "-o", "compat=0.10", "q.qcow2");
        // a new refcount block makes the allocation search again from the clusters it chose
        add(c, "c512.qcow2", "-p", "-o", "refcount_bits=64", "c512.qcow2");
        add(c, "c512.qcow2", "-o", "refcount_bits=1", "c512.qcow2");
        // v3 images with internal snapshots are resized (qemu 7.2)
        add(c, "s.qcow2", "-o", "size=128M", "s.qcow2");
        bitmapCases(c);
        return c.stream();
    }

    /**
     * Images with persistent bitmaps: qemu's open marks them in_use, the amend runs, and the
     * close stores them after everything the amend allocated (also when the amend fails).
     */
    private static void bitmapCases(List<Arguments> c) {
        add(c, "bm.qcow2", "-o", "compat=0.10", "bm.qcow2");
        add(c, "bm.qcow2", "-p", "-o", "compat=0.10", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "compat=1.1", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "lazy_refcounts=on", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "lazy_refcounts=off", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "refcount_bits=1", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "refcount_bits=8", "bm.qcow2");
        add(c, "bm.qcow2", "-p", "-o", "refcount_bits=64", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "size=32M", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "size=2G", "bm.qcow2");
        addShrinking(c, "bm.qcow2", "-o", "size=5M", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "size=32M,refcount_bits=8", "bm.qcow2");
        addShrinking(c, "bm.qcow2", "-p", "-o", "compat=0.10,size=8M", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "compat=0.10,refcount_bits=16,lazy_refcounts=off", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "compat=0.10,lazy_refcounts=on", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "compat=0.10,refcount_bits=8", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "backing_file=foo", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "data_file_raw=on", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "foo=bar", "bm.qcow2");
        add(c, "bm.qcow2", "-o", "help", "bm.qcow2");
        add(c, "bmused.qcow2", "-o", "compat=0.10", "bmused.qcow2");
        add(c, "bmused.qcow2", "-o", "size=32M", "bmused.qcow2");
        add(c, "bmused.qcow2", "-o", "refcount_bits=8", "bmused.qcow2");
        add(c, "bmused.qcow2", "-o", "lazy_refcounts=on", "bmused.qcow2");
        add(c, "bmmixed.qcow2", "-o", "compat=0.10", "bmmixed.qcow2");
        add(c, "bmmixed.qcow2", "-o", "size=32M", "bmmixed.qcow2");
        add(c, "bmmixed.qcow2", "-o", "refcount_bits=4", "bmmixed.qcow2");
        add(c, "bms.qcow2", "-o", "compat=0.10", "bms.qcow2");
        add(c, "bms.qcow2", "-o", "refcount_bits=8", "bms.qcow2");
        add(c, "bms.qcow2", "-o", "size=32M", "bms.qcow2");
        add(c, "bmo.qcow2", "-o", "size=128M", "bmo.qcow2");
        add(c, "bmo.qcow2", "-p", "-o", "compat=0.10", "bmo.qcow2");
        add(c, "bmo.qcow2", "-o", "refcount_bits=2,size=100M", "bmo.qcow2");
        add(c, "bmd.qcow2", "-o", "data_file=other.data", "bmd.qcow2");
        add(c, "bmd.qcow2", "-o", "data_file_raw=off", "bmd.qcow2");
        add(c, "bmd.qcow2", "-o", "size=32M", "bmd.qcow2");
        add(c, "bmd.qcow2", "-o", "compat=0.10", "bmd.qcow2");
        add(c, "bm512.qcow2", "-p", "-o", "refcount_bits=64", "bm512.qcow2");
        add(c, "bm512.qcow2", "-o", "compat=0.10", "bm512.qcow2");
        add(c, "bm512.qcow2", "-o", "size=64M", "bm512.qcow2");
        add(c, "bm512.qcow2", "-o", "refcount_bits=1,size=40M", "bm512.qcow2");
    }

    private static void add(List<Arguments> c, String image, String... args) {
        addCase(c, image, true, args);
    }

    private static void addShrinking(List<Arguments> c, String image, String... args) {
        addCase(c, image, false, args);
    }

    private static void addCase(List<Arguments> c, String image, boolean keepsContent, String... args) {
        String[] full = new String[args.length + 1];
        full[0] = "amend";
        for (int i = 0; i < args.length; i++) {
            boolean file = args[i].endsWith(".qcow2") || args[i].endsWith(".raw");
            full[i + 1] = file && !args[i].contains("=") ? WORK.resolve(args[i]).toString() : args[i];
        }
        c.add(Arguments.of(String.join(" ", args), image, keepsContent, full));
    }

    @ParameterizedTest(name = "amend {0}")
    @MethodSource("cases")
    void sameAsQemuImg(String label, String image, boolean keepsContent, String[] args) throws IOException {
        makeImages(image);
        deleteTree(ORIGINAL);
        copyTree(WORK, ORIGINAL);
        Tools.Result qemu = Tools.qemuImg(args);
        deleteTree(QEMU_RESULT);
        Files.move(WORK, QEMU_RESULT);
        copyTree(ORIGINAL, WORK);
        Tools.Result ours = InProcessCli.strataImg(args);
        Parity.assertSame(qemu, ours);

        List<Path> files;
        try (Stream<Path> s = Files.list(QEMU_RESULT)) {
            files = s.sorted().toList();
        }
        for (Path theirs : files) {
            Path mine = WORK.resolve(theirs.getFileName());
            assertEquals(-1L, Files.mismatch(theirs, mine), () -> "bytes of " + mine);
        }
        Path mine = WORK.resolve(image);
        if (qemu.exitCode() != 0) {
            if (java.util.Arrays.equals(Files.readAllBytes(QEMU_RESULT.resolve(image)),
                    Files.readAllBytes(ORIGINAL.resolve(image)))) {
                assertEquals(-1L, Files.mismatch(ORIGINAL.resolve(image), mine),
                        "a failed amend left the image unchanged");
            }
            return;
        }
        if (!image.endsWith(".qcow2") || image.startsWith("m.")) {
            return;
        }
        Tools.Result check = Tools.qemuImg("check", mine.toString());
        Tools.Result theirCheck = Tools.qemuImg("check", QEMU_RESULT.resolve(image).toString());
        assertEquals(theirCheck.exitCode(), check.exitCode(), () -> "check of " + mine + ": " + check.stdout());
        if (check.exitCode() == 0 && keepsContent) {
            Tools.qemuImg("compare", "-f", "qcow2", "-F", "qcow2", ORIGINAL.resolve(image).toString(),
                    mine.toString()).orFail();
        }
    }

    @BeforeAll
    static void forgetImagesOfEarlierRuns() throws IOException {
        deleteTree(MADE);
    }

    /**
     * Puts {@code image} (and what it refers to) in the work directory: made with the real tools
     * the first time in a run, copied from that first making afterwards (the images name their
     * backing and data files by their work directory paths, which stay the same).
     */
    private static void makeImages(String image) throws IOException {
        deleteTree(WORK);
        Path made = MADE.resolve(image);
        if (Files.isDirectory(made)) {
            copyTree(made, WORK);
            return;
        }
        Files.createDirectories(WORK);
        makeWithTools(image);
        copyTree(WORK, made);
    }

    /** Makes {@code image} (and what it refers to) in the empty work directory with the real tools. */
    private static void makeWithTools(String image) throws IOException {
        String p = WORK.resolve(image).toString();
        switch (image) {
            case "q.qcow2" -> {
                create(p, "64M");
                io(p, "write -P 0x33 0 1M", "write -P 0x34 4M 192k", "write -z 4M 64k", "write -z 8M 128k",
                        "write -c -P 0x35 16M 64k", "write -P 0x36 63M 1M", "write -z -u 63M 64k");
            }
            case "v2.qcow2" -> {
                create(p, "16M", "-o", "compat=0.10");
                io(p, "write -P 0x77 0 5M", "write -c -P 0x78 6M 64k");
            }
            case "v2s.qcow2" -> {
                create(p, "16M", "-o", "compat=0.10");
                io(p, "write -P 0x77 0 2M");
                Tools.qemuImg("snapshot", "-c", "snap1", p).orFail();
                io(p, "write -P 0x79 1M 64k");
            }
            case "s.qcow2", "os.qcow2" -> {
                if (image.startsWith("o")) {
                    backing();
                    create(p, "64M", "-b", "b.qcow2", "-F", "qcow2");
                } else {
                    create(p, "64M");
                }
                io(p, "write -P 0x41 0 2M", "write -z 1M 128k", "write -z 3M 64k");
                Tools.qemuImg("snapshot", "-c", "snap1", p).orFail();
                io(p, "write -P 0x42 0 64k", "write -z 5M 64k", "write -P 0x43 1M 64k");
                Tools.qemuImg("snapshot", "-c", "snap2", p).orFail();
                io(p, "write -z 6M 64k");
            }
            case "o.qcow2", "m.qcow2" -> {
                if (image.startsWith("m")) {
                    Tools.qemuImg("create", "-q", "-u", "-f", "qcow2", "-b", "missing.qcow2", "-F", "qcow2", p,
                            "64M").orFail();
                    return;
                }
                backing();
                create(p, "64M", "-b", "b.qcow2", "-F", "qcow2");
                io(p, "write -P 0x22 1M 100k", "write -z 2M 256k", "write -z 10M 64k", "write -P 0x23 63M 1M");
            }
            case "z.qcow2" -> {
                create(p, "16M", "-o", "compression_type=zstd");
                io(p, "write -c -P 0x51 0 64k", "write -z 1M 64k");
            }
            case "zn.qcow2" -> {
                create(p, "16M", "-o", "compression_type=zstd");
                io(p, "write -P 0x52 0 64k", "write -z 1M 64k");
            }
            case "d.qcow2", "dr.qcow2" -> {
                String data = WORK.resolve(image.replace(".qcow2", ".data")).toString();
                create(p, "16M", "-o", "data_file=" + data + (image.startsWith("dr") ? ",data_file_raw=on" : ""));
                io(p, "write -P 0x61 0 1M", "write -z 2M 64k");
            }
            case "e.qcow2" -> {
                create(p, "16M", "-o", "extended_l2=on");
                io(p, "write -P 0x62 0 100k", "write -z 1M 64k");
            }
            case "r8.qcow2" -> {
                create(p, "16M", "-o", "refcount_bits=8");
                io(p, "write -P 0x63 0 1M", "write -z 2M 64k");
            }
            case "lazy.qcow2" -> {
                create(p, "16M", "-o", "lazy_refcounts=on");
                io(p, "write -P 0x64 0 1M", "write -z 2M 64k");
            }
            case "c512.qcow2" -> {
                create(p, "16M", "-o", "cluster_size=512");
                io(p, "write -P 0x65 0 6M", "write -z 1M 4k", "write -z 7M 512", "write -c -P 0x66 8M 512");
            }
            case "c4k.qcow2" -> {
                create(p, "32M", "-o", "cluster_size=4096");
                io(p, "write -P 0x67 0 3M", "write -z 100k 8k", "write -z 20M 4k");
            }
            case "c2m.qcow2" -> {
                create(p, "64M", "-o", "cluster_size=2M");
                io(p, "write -P 0x68 0 3M", "write -z 4M 2M", "write -z 10M 2M");
            }
            case "r.raw" -> {
                Tools.qemuImg("create", "-q", "-f", "raw", p, "1M").orFail();
                Tools.qemuIo("-f", "raw", "-c", "write -P 0x69 0 64k", p).orFail();
            }
            case "bm.qcow2", "bmused.qcow2", "bmmixed.qcow2", "bms.qcow2" -> {
                create(p, "16M");
                io(p, "write -P 0x6a 0 1M", "write -c -P 0x6b 4M 128k", "write -z 6M 64k");
                if (image.equals("bms.qcow2")) {
                    Tools.qemuImg("snapshot", "-c", "snap1", p).orFail();
                }
                addBitmaps(p);
                io(p, "write -P 0x6c 512k 1M", "write -z 8M 128k", "write -P 0x6d 15M 4k");
                if (!image.equals("bm.qcow2") && !image.equals("bms.qcow2")) {
                    Tools.qemuIo("-c", "write -P 0x6e 0 4k", "-c", "sigraise 9", p); // leaves them in_use
                }
                if (image.equals("bmmixed.qcow2")) {
                    Tools.qemuImg("bitmap", "--add", p, "fresh").orFail();
                    io(p, "write -P 0x6f 2M 64k");
                }
            }
            case "bmo.qcow2" -> {
                backing();
                create(p, "64M", "-b", "b.qcow2", "-F", "qcow2");
                addBitmaps(p);
                io(p, "write -P 0x71 1M 100k", "write -z 2M 256k", "write -P 0x72 63M 1M");
            }
            case "bmd.qcow2" -> {
                create(p, "16M", "-o", "data_file=" + WORK.resolve("bmd.data"));
                addBitmaps(p);
                io(p, "write -P 0x73 0 1M", "write -z 2M 64k");
            }
            case "bm512.qcow2" -> {
                // bitmaps added in separate sessions leave free clusters behind
                create(p, "32M", "-o", "cluster_size=512");
                io(p, "write -P 0x74 0 300k", "write -z 100k 4k");
                addBitmaps(p);
                io(p, "write -P 0x75 200k 200k", "write -z 1M 8k", "write -P 0x76 31M 10k");
            }
            default -> throw new IllegalArgumentException(image);
        }
    }

    /** An enabled, a disabled (128k granularity) and a 4k-granularity persistent bitmap. */
    private static void addBitmaps(String path) {
        Tools.qemuImg("bitmap", "--add", path, "b0").orFail();
        Tools.qemuImg("bitmap", "--add", "-g", "128k", "--disable", path, "b1").orFail();
        Tools.qemuImg("bitmap", "--add", "-g", "4k", path, "b2").orFail();
    }

    private static void backing() {
        String b = WORK.resolve("b.qcow2").toString();
        create(b, "128M");
        io(b, "write -P 0x11 0 16M", "write -P 0x12 62M 4M", "write -P 0x13 100M 1M");
    }

    private static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path p : s.toList()) {
                Files.copy(p, to.resolve(p.getFileName()));
            }
        }
    }
}
