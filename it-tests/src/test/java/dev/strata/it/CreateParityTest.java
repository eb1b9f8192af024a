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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code strata-img create} against {@code qemu-img create}: each case runs both tools in two
 * sibling directories prepared alike (a raw and a qcow2 base image made by qemu-img, and a file
 * "old" with content, for the tools to overwrite). Arguments starting with '@' name files in
 * the case's directory. Compared: stdout, stderr and exit code (the directory names
 * substituted), the files left in the directory with their sizes, real {@code qemu-img info
 * --output=json} of every image created, and real {@code qemu-img check} of qcow2 results (the
 * same output for ours as for qemu's).
 */
class CreateParityTest {
    private static final Path ROOT = Path.of("target", "create-parity");
    private static final String QEMU_SIDE = "qemu-side";
    private static final String STRATA_SIDE = "strata-side";
    private static final AtomicInteger NEXT = new AtomicInteger();

    @BeforeAll
    static void clean() {
        Tools.requireTool("qemu-img");
        Corpus.deleteTree(ROOT);
    }

    static Stream<Arguments> cases() {
        List<Arguments> c = new ArrayList<>();
        // raw
        c.add(of("raw, default format", "@a.img", "1M"));
        c.add(of("raw, explicit", "-f", "raw", "@a.raw", "1M"));
        c.add(of("raw, size not a multiple of 512", "-f", "raw", "@a.raw", "100"));
        c.add(of("raw, size 0", "-f", "raw", "@a.raw", "0"));
        c.add(of("raw, fractional size", "-f", "raw", "@a.raw", "1.5k"));
        c.add(of("raw, hex size", "-f", "raw", "@a.raw", "0x10000"));
        c.add(of("raw, size from -o", "-f", "raw", "-o", "size=4k", "@a.raw"));
        c.add(of("raw, falloc", "-f", "raw", "-o", "preallocation=falloc", "@a.raw", "100k"));
        c.add(of("raw, full", "-f", "raw", "-o", "preallocation=full", "@a.raw", "100k"));
        c.add(of("raw, off", "-f", "raw", "-o", "preallocation=off", "@a.raw", "100k"));
        c.add(of("raw, metadata refused after creating", "-f", "raw", "-o", "preallocation=metadata", "@old", "1M"));
        c.add(of("raw, bad preallocation", "-f", "raw", "-o", "preallocation=foo", "@old", "1M"));
        c.add(of("raw, nocow and hint", "-f", "raw", "-o", "nocow=on,extent_size_hint=0", "@a.raw", "1M"));
        c.add(of("raw, hint too large", "-f", "raw", "-o", "extent_size_hint=5G", "@a.raw", "1M"));
        c.add(of("raw, overwrites", "-f", "raw", "@old", "8k"));
        c.add(of("raw, quiet", "-q", "-f", "raw", "@a.raw", "1M"));
        c.add(of("raw, repeated -o, last wins", "-f", "raw", "-o", "preallocation=full", "-o",
                "preallocation=off", "@a.raw", "64k"));
        c.add(of("raw, id ignored, nonocow", "-f", "raw", "-o", "id=x,nonocow", "@a.raw", "64k"));
        c.add(of("raw, backing refused", "-f", "raw", "-b", "base.raw", "-F", "raw", "@a.raw"));
        c.add(of("raw, backing format refused", "-f", "raw", "-F", "raw", "@a.raw", "1M"));
        c.add(of("raw, qcow2 option refused", "-f", "raw", "-o", "cluster_size=4k", "@a.raw", "1M"));
        c.add(of("missing directory", "-f", "raw", "@nodir/a.raw", "1M"));
        // option syntax
        c.add(of("unknown option", "-f", "qcow2", "-o", "x,y", "@a.qcow2", "1M"));
        c.add(of("empty option list", "-f", "qcow2", "-o", "", "@a.qcow2", "1M"));
        c.add(of("leading comma", "-f", "qcow2", "-o", ",cluster_size=4k", "@a.qcow2", "1M"));
        c.add(of("odd trailing commas", "-f", "qcow2", "-o", "cluster_size=4k,", "@a.qcow2", "1M"));
        c.add(of("bad bool", "-f", "qcow2", "-o", "lazy_refcounts=maybe", "@a.qcow2", "1M"));
        c.add(of("bad nocow", "-f", "qcow2", "-o", "nocow=maybe", "@a.qcow2", "1M"));
        c.add(of("bad size option", "-f", "qcow2", "-o", "cluster_size=abc", "@a.qcow2", "1M"));
        c.add(of("empty size option", "-f", "qcow2", "-o", "cluster_size=", "@a.qcow2", "1M"));
        c.add(of("size option out of range", "-f", "qcow2", "-o", "size=20E", "@a.qcow2"));
        c.add(of("negative size option", "-f", "qcow2", "-o", "size=-1", "@a.qcow2"));
        c.add(of("bad number", "-f", "qcow2", "-o", "refcount_bits=x", "@a.qcow2", "1M"));
        c.add(of("size twice", "-f", "qcow2", "-o", "size=1M", "@a.qcow2", "1M"));
        c.add(of("no size", "-f", "qcow2", "@a.qcow2"));
        c.add(of("no file name", "-f", "qcow2"));
        c.add(of("extra argument", "-f", "qcow2", "@a.qcow2", "1M", "extra"));
        c.add(of("bad size argument", "-f", "qcow2", "@a.qcow2", "1abc"));
        c.add(of("size argument 8E", "-f", "qcow2", "@a.qcow2", "8E"));
        c.add(of("unknown format", "-f", "foo", "@a.img", "1M"));
        c.add(of("help, qcow2", "-f", "qcow2", "-o", "help"));
        c.add(of("help, raw", "-f", "raw", "-o", "?"));
        c.add(of("help, qcow2 with file", "-f", "qcow2", "-o", "cluster_size=4k,help", "@a.qcow2", "1M"));
        c.add(of("help, raw with file", "-o", "help", "@a.raw"));
        c.add(of("help after other -o", "-f", "qcow2", "-o", "cluster_size=4k", "-o", "help", "@a.qcow2"));
        c.add(of("help, unknown format", "-f", "foo", "-o", "help"));
        c.add(of("help as value is no help", "-f", "qcow2", "-o", "compat=help", "@a.qcow2", "1M"));
        // qcow2 option checks
        c.add(of("cluster size not a power of two", "-f", "qcow2", "-o", "cluster_size=3000", "@old", "1M"));
        c.add(of("cluster size too small", "-f", "qcow2", "-o", "cluster_size=256", "@a.qcow2", "1M"));
        c.add(of("cluster size too large", "-f", "qcow2", "-o", "cluster_size=4M", "@a.qcow2", "1M"));
        c.add(of("extended L2 with small clusters", "-f", "qcow2", "-o", "cluster_size=4k,extended_l2=on",
                "@a.qcow2", "1M"));
        c.add(of("compat bad", "-f", "qcow2", "-o", "compat=2", "@a.qcow2", "1M"));
        c.add(of("lazy refcounts v2", "-f", "qcow2", "-o", "compat=0.10,lazy_refcounts=on", "@a.qcow2", "1M"));
        c.add(of("refcount bits 3", "-f", "qcow2", "-o", "refcount_bits=3", "@a.qcow2", "1M"));
        c.add(of("refcount bits 128", "-f", "qcow2", "-o", "refcount_bits=128", "@a.qcow2", "1M"));
        c.add(of("refcount bits v2", "-f", "qcow2", "-o", "compat=0.10,refcount_bits=8", "@a.qcow2", "1M"));
        c.add(of("compression type bad", "-f", "qcow2", "-o", "compression_type=lz4", "@a.qcow2", "1M"));
        c.add(of("zstd v2", "-f", "qcow2", "-o", "compat=0.10,compression_type=zstd", "@a.qcow2", "1M"));
        c.add(of("extended L2 v2", "-f", "qcow2", "-o", "compat=0.10,extended_l2=on", "@a.qcow2", "1M"));
        c.add(of("data_file_raw without data file", "-f", "qcow2", "-o", "data_file_raw=on", "@a.qcow2", "1M"));
        c.add(of("data file v2, files removed", "-f", "qcow2", "-o", "compat=0.10,data_file=@old",
                "@a.qcow2", "1M"));
        c.add(of("preallocation bad", "-f", "qcow2", "-o", "preallocation=foo", "@old", "1M"));
        c.add(of("backing and preallocation", "-f", "qcow2", "-o", "preallocation=metadata", "-b", "x", "-F",
                "raw", "-u", "@a.qcow2", "1M"));
        c.add(of("backing and data_file_raw", "-f", "qcow2", "-o", "data_file_raw=on,data_file=d", "-b", "x",
                "-F", "raw", "-u", "@a.qcow2", "1M"));
        c.add(of("hint too large, qcow2", "-f", "qcow2", "-o", "extent_size_hint=5G", "@a.qcow2", "1M"));
        c.add(of("size too large for the L1 table", "-f", "qcow2", "-o", "cluster_size=512", "@a.qcow2", "1E"));
        c.add(of("negative size from -o", "-f", "qcow2", "-o", "size=9E", "@a.qcow2"));
        c.add(of("encryption alias conflict keeps file", "-f", "qcow2", "-o", "encryption=on,encrypt.format=luks",
                "@old", "1M"));
        c.add(of("luks without secret", "-f", "qcow2", "-o", "encrypt.format=luks", "@old", "1M"));
        c.add(of("aes without secret", "-f", "qcow2", "-o", "encryption=on", "@a.qcow2", "1M"));
        c.add(of("encrypt format bad", "-f", "qcow2", "-o", "encrypt.format=foo", "@a.qcow2", "1M"));
        // backing files
        c.add(of("backing without format", "-f", "qcow2", "-b", "base.qcow2", "@a.qcow2"));
        c.add(of("raw backing without format", "-f", "qcow2", "-b", "base.raw", "@a.qcow2"));
        c.add(of("backing missing", "-f", "qcow2", "-b", "nonexist", "-F", "raw", "@a.qcow2"));
        c.add(of("backing missing, no format", "-f", "qcow2", "-b", "nonexist", "@a.qcow2"));
        c.add(of("backing unknown format", "-f", "qcow2", "-b", "base.raw", "-F", "foo", "@a.qcow2"));
        c.add(of("unsafe without format", "-f", "qcow2", "-u", "-b", "nonexist", "@a.qcow2", "1M"));
        c.add(of("backing format alone", "-f", "qcow2", "-F", "raw", "@a.qcow2", "1M"));
        c.add(of("empty backing name", "-f", "qcow2", "-b", "", "-F", "raw", "@a.qcow2", "1M"));
        c.add(of("backing is the image", "-f", "qcow2", "-b", "@same", "-F", "raw", "@same"));
        // qcow2 images
        c.add(of("qcow2 default", "-f", "qcow2", "@a.qcow2", "1G"));
        c.add(of("qcow2 quiet", "-q", "-f", "qcow2", "@a.qcow2", "1M"));
        c.add(of("qcow2 size 100", "-f", "qcow2", "@a.qcow2", "100"));
        c.add(of("qcow2 lazy yes", "-f", "qcow2", "-o", "lazy_refcounts=yes", "@a.qcow2", "1M"));
        c.add(of("qcow2 compat v3", "-f", "qcow2", "-o", "compat=v3", "@a.qcow2", "1M"));
        c.add(of("qcow2 v2", "-f", "qcow2", "-o", "compat=0.10", "@a.qcow2", "64M"));
        c.add(of("qcow2 options", "-f", "qcow2", "-o",
                "cluster_size=16k,extended_l2=on,compression_type=zstd,refcount_bits=8,lazy_refcounts=on",
                "@a.qcow2", "10M"));
        c.add(of("qcow2 metadata", "-f", "qcow2", "-o", "preallocation=metadata", "@a.qcow2", "10M"));
        c.add(of("qcow2 falloc", "-f", "qcow2", "-o", "preallocation=falloc", "@a.qcow2", "3M"));
        c.add(of("qcow2 full", "-f", "qcow2", "-o", "preallocation=full", "@a.qcow2", "3M"));
        c.add(of("qcow2 backing raw", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "@a.qcow2"));
        c.add(of("qcow2 backing qcow2 given size", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "@a.qcow2",
                "5M"));
        c.add(of("qcow2 backing probed as raw", "-f", "qcow2", "-b", "base.qcow2", "-F", "raw", "@a.qcow2"));
        c.add(of("qcow2 backing from -o", "-f", "qcow2", "-o", "backing_file=x,,y,backing_fmt=raw", "-u",
                "@a.qcow2", "1M"));
        c.add(of("qcow2 -b overrides -o", "-f", "qcow2", "-o", "backing_file=x,backing_fmt=qcow2", "-b", "z",
                "-F", "raw", "-u", "@a.qcow2", "1M"));
        c.add(of("qcow2 data file", "-f", "qcow2", "-o", "data_file=@d.raw", "@a.qcow2", "1M"));
        c.add(of("qcow2 data file raw", "-f", "qcow2", "-o", "data_file=@d.raw,data_file_raw=on", "@a.qcow2",
                "1M"));
        c.add(of("qcow2 overwrites", "-f", "qcow2", "@old", "1M"));
        c.add(of("qcow2 backing and extended L2 metadata", "-f", "qcow2", "-o",
                "extended_l2=on,preallocation=metadata", "-b", "base.raw", "-F", "raw", "@a.qcow2"));
        return c.stream();
    }

    private static Arguments of(String about, String... args) {
        return Arguments.of(about, args);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void create(String about, String[] template) throws IOException {
        Path caseDir = ROOT.resolve(Integer.toString(NEXT.incrementAndGet()));
        Path qemuDir = prepare(caseDir.resolve(QEMU_SIDE));
        Path strataDir = prepare(caseDir.resolve(STRATA_SIDE));
        Tools.Result qemu = Tools.qemuImg(Tools.prepend("create", place(template, qemuDir)));
        Tools.Result ours = InProcessCli.strataImg(Tools.prepend("create", place(template, strataDir)));
        Parity.assertSame(sideSwapped(qemu), ours);
        assertEquals(listing(qemuDir), listing(strataDir), "files left by " + about);
        for (String name : listing(qemuDir).lines().map(l -> l.split(" ")[0]).toList()) {
            if (name.equals("base.raw") || name.equals("base.qcow2")) {
                continue;
            }
            Tools.Result qemuInfo = Tools.qemuImg("info", "-U", "--output=json", qemuDir.resolve(name).toString());
            Tools.Result ourInfo = Tools.qemuImg("info", "-U", "--output=json", strataDir.resolve(name).toString());
            assertEquals(sideSwapped(qemuInfo).stdout(), ourInfo.stdout(), "qemu-img info of " + name);
            if (qemuInfo.stdout().contains("\"format\": \"qcow2\"")) {
                // Our image checks as qemu's does (clean, or failing alike where -u left no backing file).
                Tools.Result qemuCheck = Tools.qemuImg("check", "-U", qemuDir.resolve(name).toString());
                Tools.Result ourCheck = Tools.qemuImg("check", "-U", strataDir.resolve(name).toString());
                Tools.Result expected = sideSwapped(qemuCheck);
                assertEquals(expected.exitCode() + "\n" + expected.stdout() + expected.stderr(),
                        ourCheck.exitCode() + "\n" + ourCheck.stdout() + ourCheck.stderr(), "qemu-img check of " + name);
            }
        }
    }

    /**
     * qcow2 with an external data file, data_file_raw=on among them (qemu then preallocates the
     * metadata, a 1:1 mapping), and falloc/full (metadata mapped, the data file grown with the
     * preallocation, the tail of the last new cluster zeroed as qemu's copy-on-write does):
     * both files byte for byte (the header names the data file; the two side directories have
     * names of one length), the data file's host layout (map of it as raw), info and check.
     */
    static Stream<Arguments> dataFileLayouts() {
        List<Arguments> c = new ArrayList<>();
        for (String prealloc : List.of("", ",preallocation=off", ",preallocation=metadata", ",preallocation=falloc",
                ",preallocation=full")) {
            for (String size : List.of("3M", "1000k", "1")) {
                c.add(Arguments.of("data_file_raw=on" + prealloc, size));
            }
        }
        c.add(Arguments.of("data_file_raw=on,cluster_size=4k", "1000k"));
        c.add(Arguments.of("data_file_raw=on,cluster_size=2M,preallocation=falloc", "5M"));
        c.add(Arguments.of("data_file_raw=on,extended_l2=on", "1000k"));
        c.add(Arguments.of("data_file_raw=on,extended_l2=on,preallocation=falloc", "1000k"));
        c.add(Arguments.of("data_file_raw=on,cluster_size=512,preallocation=full", "1M"));
        c.add(Arguments.of("data_file_raw=on,compat=1.1,lazy_refcounts=on,refcount_bits=1", "2M"));
        c.add(Arguments.of("data_file_raw=off,preallocation=falloc", "1000k"));
        c.add(Arguments.of("preallocation=full", "3M"));
        c.add(Arguments.of("preallocation=metadata", "1000k"));
        return c.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("dataFileLayouts")
    void dataFileLayout(String options, String size) throws IOException {
        Path caseDir = ROOT.resolve("data-file-" + NEXT.incrementAndGet());
        Path q = Files.createDirectories(caseDir.resolve("qside")).toAbsolutePath();
        Path s = Files.createDirectories(caseDir.resolve("sside")).toAbsolutePath();
        Tools.Result qemu = Tools.qemuImg("create", "-f", "qcow2", "-o", "data_file=" + q.resolve("d.data") + ","
                + options, q.resolve("i.qcow2").toString(), size);
        Tools.Result ours = InProcessCli.strataImg("create", "-f", "qcow2", "-o", "data_file=" + s.resolve("d.data")
                + "," + options, s.resolve("i.qcow2").toString(), size);
        assertEquals(0, qemu.exitCode(), qemu.stderr());
        Parity.assertSame(swapped(qemu, q, s), ours);
        assertEquals(-1L, Files.mismatch(q.resolve("d.data"), s.resolve("d.data")), "data file bytes");
        String qemuImage = Files.readString(q.resolve("i.qcow2"), java.nio.charset.StandardCharsets.ISO_8859_1)
                .replace(q.toString(), s.toString());
        String ourImage = Files.readString(s.resolve("i.qcow2"), java.nio.charset.StandardCharsets.ISO_8859_1);
        assertEquals(qemuImage.length(), ourImage.length(), "image file size");
        assertEquals(true, qemuImage.equals(ourImage), () -> "image bytes differ first at "
                + firstDifference(qemuImage, ourImage));
        for (String[] args : List.of(new String[] {"map", "-f", "raw", "--output=json", "d.data"},
                new String[] {"info", "--output=json", "i.qcow2"}, new String[] {"check", "i.qcow2"})) {
            String[] qa = args.clone();
            String[] sa = args.clone();
            qa[qa.length - 1] = q.resolve(args[args.length - 1]).toString();
            sa[sa.length - 1] = s.resolve(args[args.length - 1]).toString();
            Tools.Result qr = swapped(Tools.qemuImg(qa), q, s);
            Tools.Result sr = Tools.qemuImg(sa);
            assertEquals(qr.exitCode() + qr.stdout() + qr.stderr(), sr.exitCode() + sr.stdout() + sr.stderr(),
                    String.join(" ", args));
        }
    }

    private static int firstDifference(String a, String b) {
        int i = 0;
        while (i < Math.min(a.length(), b.length()) && a.charAt(i) == b.charAt(i)) {
            i++;
        }
        return i;
    }

    private static Tools.Result swapped(Tools.Result r, Path from, Path to) {
        return new Tools.Result(r.command(), r.exitCode(), r.stdout().replace(from.toString(), to.toString()),
                r.stderr().replace(from.toString(), to.toString()), r.timedOut());
    }

    private static Path prepare(Path dir) throws IOException {
        Files.createDirectories(dir);
        Tools.qemuImg("create", "-q", "-f", "raw", dir.resolve("base.raw").toString(), "10M").orFail();
        Tools.qemuImg("create", "-q", "-f", "qcow2", dir.resolve("base.qcow2").toString(), "20M").orFail();
        Files.writeString(dir.resolve("old"), "old content\n".repeat(1000));
        return dir;
    }

    /** The template with every "@name" (also inside -o values, after '=') placed in {@code dir}. */
    private static String[] place(String[] template, Path dir) {
        String[] out = new String[template.length];
        for (int i = 0; i < template.length; i++) {
            out[i] = template[i].replace("@", dir + "/");
        }
        return out;
    }

    private static Tools.Result sideSwapped(Tools.Result r) {
        return new Tools.Result(r.command(), r.exitCode(), r.stdout().replace(QEMU_SIDE, STRATA_SIDE),
                r.stderr().replace(QEMU_SIDE, STRATA_SIDE), r.timedOut());
    }

    /** "name size" lines of the regular files in {@code dir}, sorted. */
    private static String listing(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(Files::isRegularFile).map(p -> {
                try {
                    return p.getFileName() + " " + Files.size(p);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }).sorted().collect(Collectors.joining("\n"));
        }
    }
}
