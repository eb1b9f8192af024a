package dev.strata.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata-img convert} against {@code qemu-img convert}: the same command line, once per
 * tool, writing to two target names. Both must print the same (target names substituted) and
 * exit alike; the two targets must hold the same guest data (real {@code qemu-img compare}), ours
 * must pass real {@code qemu-img check}, and, where the layout is deterministic, real
 * {@code qemu-img map} and {@code info} must describe both alike.
 */
class ConvertParityTest {
    @TempDir
    static Path dir;

    /** Sources made with the real tools: raw with data, zeros and holes; a 3-layer qcow2 chain; more. */
    @BeforeAll
    static void sources() {
        qemu("create", "-f", "raw", p("data.raw"), "64M");
        io("-f", "raw", "-c", "write -P 7 1M 3M", "-c", "write -P 0 8M 1M", "-c", "write -P 9 20M 5k",
                "-c", "write -P 3 30M 700", "-c", "write -P 5 63M 1M", p("data.raw"));
        qemu("create", "-f", "qcow2", p("base.qcow2"), "32M");
        io("-c", "write -P 1 0 8M", "-c", "write -P 2 16M 64k", "-c", "write -z 20M 1M", p("base.qcow2"));
        qemu("create", "-f", "qcow2", "-b", p("base.qcow2"), "-F", "qcow2", p("mid.qcow2"));
        io("-c", "write -P 3 1M 100k", "-c", "write -z 4M 64k", "-c", "write -P 4 24M 3M", p("mid.qcow2"));
        qemu("create", "-f", "qcow2", "-b", p("mid.qcow2"), "-F", "qcow2", p("top.qcow2"), "40M");
        io("-c", "write -P 5 2M 4k", "-c", "discard 16M 64k", "-c", "write -P 6 35M 2M", p("top.qcow2"));
        qemu("convert", "-c", "-O", "qcow2", p("data.raw"), p("zlib.qcow2"));
        qemu("create", "-f", "qcow2", "-o", "compat=0.10,cluster_size=4k", p("v2.qcow2"), "9M");
        io("-c", "write -P 8 0 3M", "-c", "write -P 0 5M 1M", p("v2.qcow2"));
        // Stored zeros next to data inside one 2 MiB request: -c must leave those clusters out.
        qemu("create", "-f", "raw", p("zeros-in-data.raw"), "4M");
        io("-f", "raw", "-c", "write -P 7 0 64k", "-c", "write -P 0 64k 64k", "-c", "write -P 7 128k 64k",
                "-c", "write -P 0 192k 448k", "-c", "write -P 9 640k 100k", "-c", "write -P 0 2M 2M",
                p("zeros-in-data.raw"));
        qemu("create", "-f", "raw", p("odd.raw"), "1000");
        io("-f", "raw", "-c", "write -P 4 0 512", p("odd.raw"));
        unreadableSources();
    }

    /**
     * Sources for --salvage: salvage-zlib.qcow2 is zlib.qcow2 with the first compressed stream
     * overwritten (its reads fail, its block status does not); unaligned.qcow2 has its first L2
     * entry moved off the cluster boundary (block status and reads of that cluster fail, after
     * qcow2's corruption warning).
     */
    private static void unreadableSources() {
        try {
            Path broken = dir.resolve("salvage-zlib.qcow2");
            Files.copy(dir.resolve("zlib.qcow2"), broken);
            try (var ch = java.nio.channels.FileChannel.open(broken, java.nio.file.StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap(new byte[64]), 5 * 65536L);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        qemu("create", "-f", "qcow2", p("unaligned.qcow2"), "1M");
        io("-c", "write -P 1 0 128k", "-c", "write -P 2 512k 64k", p("unaligned.qcow2"));
        try (Qcow2Patcher q = new Qcow2Patcher(dir.resolve("unaligned.qcow2"))) {
            long l2 = q.u64(q.u64(Qcow2Patcher.L1_TABLE_OFFSET)) & Qcow2Patcher.OFFSET_MASK;
            q.putU64(l2, q.u64(l2) + 0x200);
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (String src : List.of("data.raw", "top.qcow2", "zlib.qcow2", "v2.qcow2", "odd.raw", "zeros-in-data.raw")) {
            list.add(Arguments.of(src, List.of()));
            list.add(Arguments.of(src, List.of("-O", "qcow2")));
            list.add(Arguments.of(src, List.of("-S", "0")));
            list.add(Arguments.of(src, List.of("-O", "qcow2", "-c")));
        }
        list.add(Arguments.of("data.raw", List.of("-S", "64k")));
        list.add(Arguments.of("data.raw", List.of("-S", "512", "-O", "qcow2")));
        list.add(Arguments.of("data.raw", List.of("-m", "1", "-p")));
        list.add(Arguments.of("data.raw", List.of("-W", "-m", "16")));
        list.add(Arguments.of("data.raw", List.of("-O", "qcow2", "-o", "cluster_size=4k,lazy_refcounts=on")));
        list.add(Arguments.of("data.raw", List.of("-O", "qcow2", "-o", "compat=0.10,refcount_bits=16")));
        list.add(Arguments.of("data.raw", List.of("-O", "qcow2", "-o", "extended_l2=on,cluster_size=128k")));
        list.add(Arguments.of("data.raw", List.of("-O", "qcow2", "-c", "-o", "compression_type=zstd")));
        list.add(Arguments.of("data.raw", List.of("-O", "qcow2", "-o", "preallocation=metadata")));
        list.add(Arguments.of("data.raw", List.of("-O", "qcow2", "-o", "refcount_bits=1,cluster_size=512")));
        list.add(Arguments.of("top.qcow2", List.of("-O", "qcow2", "-B", "mid.qcow2", "-F", "qcow2")));
        list.add(Arguments.of("top.qcow2", List.of("-O", "qcow2", "-o", "backing_file=mid.qcow2,backing_fmt=qcow2")));
        list.add(Arguments.of("top.qcow2", List.of("-p", "-O", "qcow2", "-T", "none", "-t", "writeback")));
        // -r: a limit well above the image size never makes a write wait; 0 is no limit.
        list.add(Arguments.of("data.raw", List.of("-r", "1G")));
        list.add(Arguments.of("data.raw", List.of("-r", "0", "-O", "qcow2")));
        list.add(Arguments.of("top.qcow2", List.of("-r", "2G", "-O", "qcow2", "-c")));
        list.add(Arguments.of("top.qcow2", List.of("-r", "1.5G", "-S", "0", "-p")));
        // -C: data chunks are copied as they are (stored zeros stay stored); compressed
        // clusters and a source ending inside its last sector turn offloading off.
        for (String src : List.of("data.raw", "top.qcow2", "zlib.qcow2", "v2.qcow2", "odd.raw")) {
            list.add(Arguments.of(src, List.of("-C")));
            list.add(Arguments.of(src, List.of("-C", "-O", "qcow2")));
        }
        list.add(Arguments.of("top.qcow2", List.of("-C", "-O", "qcow2", "-B", "mid.qcow2", "-F", "qcow2")));
        list.add(Arguments.of("data.raw", List.of("-C", "-W", "-m", "4")));
        list.add(Arguments.of("data.raw", List.of("-C", "-r", "1G", "-p")));
        list.add(Arguments.of("data.raw", List.of("-C", "-O", "qcow2", "-o", "cluster_size=4k")));
        // --salvage: qemu's warnings per unreadable sector, zeros in their place.
        list.add(Arguments.of("salvage-zlib.qcow2", List.of("--salvage")));
        list.add(Arguments.of("salvage-zlib.qcow2", List.of("--salvage", "-q")));
        list.add(Arguments.of("salvage-zlib.qcow2", List.of("--salvage", "-O", "qcow2", "-p")));
        list.add(Arguments.of("unaligned.qcow2", List.of("--salvage")));
        list.add(Arguments.of("unaligned.qcow2", List.of("--salvage", "-O", "qcow2", "-m", "1")));
        list.add(Arguments.of("data.raw", List.of("--salvage", "-O", "qcow2")));
        return list.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void convertsLikeQemu(String source, List<String> options) {
        boolean qcow2 = options.contains("qcow2");
        String ext = qcow2 ? ".qcow2" : ".img";
        String tag = Integer.toHexString((source + options).hashCode());
        String qemuOut = "q-" + tag + ext;
        String ourOut = "s-" + tag + ext;
        Tools.Result q = Tools.run(dir, Tools.DEFAULT_TIMEOUT, command("qemu-img", options, p(source), p(qemuOut)));
        Tools.Result s = InProcessCli.strataImg(command(null, options, p(source), p(ourOut)));
        assertEquals(q.exitCode(), s.exitCode(), () -> "exit code; our stderr: " + s.stderr());
        assertEquals(q.stdout(), s.stdout(), "stdout");
        assertEquals(Parity.asStrata(q.stderr()).replace(qemuOut, ourOut), s.stderr(), "stderr");
        assertEquals(0, q.exitCode(), () -> "qemu-img failed: " + q.stderr());
        Tools.Result same = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "compare", qemuOut, ourOut);
        assertEquals(0, same.exitCode(), () -> "compare: " + same.stdout() + same.stderr());
        Tools.Result check = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "check", ourOut);
        if (qcow2) {
            assertEquals(0, check.exitCode(), () -> "check: " + check.stdout() + check.stderr());
        }
        if (options.contains("-c")) {
            // Compressed streams need not be as long as zlib's, so host offsets may differ; which
            // clusters are stored, and how, may not.
            assertEquals(withoutOffsets(map(qemuOut)), withoutOffsets(map(ourOut)), "map --output=json, offsets aside");
        } else {
            assertEquals(map(qemuOut), map(ourOut), "map --output=json");
        }
        assertEquals(info(qemuOut, qemuOut), info(ourOut, qemuOut), "info --output=json");
    }

    /** Several sources, concatenated. */
    @Test
    void concatenatesSources() {
        Tools.Result q = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "convert", "-O", "qcow2", "odd.raw",
                "v2.qcow2", "data.raw", "qcat.qcow2");
        Tools.Result s = InProcessCli.strataImg("convert", "-O", "qcow2", p("odd.raw"), p("v2.qcow2"), p("data.raw"),
                p("scat.qcow2"));
        assertEquals(0, q.exitCode(), q.stderr());
        assertEquals(0, s.exitCode(), s.stderr());
        assertEquals(map("qcat.qcow2"), map("scat.qcow2"));
        assertEquals(0, Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "compare", "qcat.qcow2", "scat.qcow2")
                .exitCode());
    }

    /** --salvage over concatenated sources: warning offsets count within the failing source. */
    @Test
    void salvagesConcatenatedSources() {
        Tools.Result q = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "convert", "--salvage", "-O", "qcow2",
                "odd.raw", "unaligned.qcow2", "salvage-zlib.qcow2", "qsalv.qcow2");
        Tools.Result s = InProcessCli.strataImg("convert", "--salvage", "-O", "qcow2", p("odd.raw"),
                p("unaligned.qcow2"), p("salvage-zlib.qcow2"), p("ssalv.qcow2"));
        assertEquals(0, q.exitCode(), q.stderr());
        Parity.assertSame(q, s);
        assertEquals(map("qsalv.qcow2"), map("ssalv.qcow2"));
        assertEquals(0, Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "compare", "qsalv.qcow2", "ssalv.qcow2")
                .exitCode());
        assertEquals(0, Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "check", "ssalv.qcow2").exitCode());
    }

    /** -n onto an existing image, with and without --target-is-zero. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("existingTargets")
    void convertsOntoExisting(List<String> options) throws IOException {
        for (String name : List.of("qn.qcow2", "sn.qcow2")) {
            qemu("create", "-f", "qcow2", p(name), "64M");
            io("-c", "write -P 42 0 64M", p(name));
        }
        List<String> args = new ArrayList<>(List.of("convert", "-n", "-O", "qcow2"));
        args.addAll(options);
        Tools.Result q = Tools.run(dir, Tools.DEFAULT_TIMEOUT, command("qemu-img", args.subList(1, args.size()),
                "data.raw", "qn.qcow2"));
        Tools.Result s = InProcessCli.strataImg(command(null, args.subList(1, args.size()), p("data.raw"),
                p("sn.qcow2")));
        assertEquals(q.exitCode(), s.exitCode(), s.stderr());
        assertEquals(0, Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "compare", "qn.qcow2", "sn.qcow2")
                .exitCode());
        assertEquals(0, Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "check", "sn.qcow2").exitCode());
        Files.delete(dir.resolve("qn.qcow2"));
        Files.delete(dir.resolve("sn.qcow2"));
    }

    /**
     * -n into an image whose clusters are scattered over the file with free holes between them:
     * which host cluster each new guest cluster gets (a run continuing a host-contiguous chunk
     * takes the free clusters right after it first, as qemu's qcow2_alloc_clusters_at) must be
     * qemu's, so the files come out byte-identical.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"cluster_size=65536", "cluster_size=4096", "cluster_size=65536,extended_l2=on"})
    void convertsIntoAFragmentedImageAsQemuLaysItOut(String createOptions) throws IOException {
        qemu("create", "-f", "raw", p("frag-src.raw"), "4M");
        io("-f", "raw", "-c", "write -P 0x33 64k 192k", "-c", "write -P 0x44 1M 1M", "-c", "write -P 0x55 3M 64k",
                p("frag-src.raw"));
        qemu("create", "-f", "qcow2", "-o", createOptions, p("frag.qcow2"), "4M");
        long cluster = Long.parseLong(createOptions.replaceAll(".*cluster_size=(\\d+).*", "$1"));
        long clusters = (4L << 20) / cluster;
        List<String> writes = new ArrayList<>();
        for (long i = 0; i < clusters * 3 / 4; i++) {
            writes.add("-c");
            writes.add("write -P " + (1 + i % 200) + " " + ((i * 37) % clusters) * cluster + " 4k");
        }
        for (long i = 0; i < clusters; i += 5) {
            writes.add("-c");
            writes.add("discard " + i * cluster + " " + cluster);
        }
        writes.add(p("frag.qcow2"));
        io(writes.toArray(String[]::new));
        Files.copy(dir.resolve("frag.qcow2"), dir.resolve("frag-q.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        Files.copy(dir.resolve("frag.qcow2"), dir.resolve("frag-s.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        Tools.Result q = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "convert", "-n", "-f", "raw", "-O", "qcow2",
                "frag-src.raw", "frag-q.qcow2");
        Tools.Result s = InProcessCli.strataImg("convert", "-n", "-f", "raw", "-O", "qcow2", p("frag-src.raw"),
                p("frag-s.qcow2"));
        assertEquals(0, q.exitCode(), q.stderr());
        assertEquals(0, s.exitCode(), s.stderr());
        assertEquals(-1L, Files.mismatch(dir.resolve("frag-q.qcow2"), dir.resolve("frag-s.qcow2")),
                "strata's file differs from qemu-img's");
        assertEquals(0, Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "check", "frag-s.qcow2").exitCode());
    }

    static Stream<List<String>> existingTargets() {
        return Stream.of(List.of(), List.of("--target-is-zero"), List.of("-S", "0"));
    }

    /** Errors (and -o help): each one the same output and exit code as qemu-img. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("mistakes")
    void refusesLikeQemu(List<String> args) {
        List<String> full = new ArrayList<>(List.of("convert"));
        for (String a : args) {
            full.add(a.matches("[a-z0-9-]+\\.(raw|qcow2)|e[0-9]+") ? p(a) : a);
        }
        Tools.Result q = Tools.run(dir, Tools.DEFAULT_TIMEOUT, Tools.prepend("qemu-img", full.toArray(String[]::new)));
        Tools.Result s = InProcessCli.strataImg(full.toArray(String[]::new));
        Parity.assertSame(q, s);
        if (!args.contains("help")) {
            assertFalse(q.exitCode() == 0, "qemu-img accepted " + args);
        }
    }

    static Stream<List<String>> mistakes() {
        return Stream.of(
                List.of(),
                List.of("data.raw"),
                List.of("-O", "qcow2", "-B", "base.qcow2", "top.qcow2", "e1"),
                List.of("-n", "-o", "cluster_size=4k", "data.raw", "e2"),
                List.of("--target-is-zero", "data.raw", "e3"),
                List.of("-c", "data.raw", "e4"),
                List.of("-n", "data.raw", "missing-target.raw"),
                List.of("-n", "data.raw", "odd.raw"),
                List.of("-S", "1000", "data.raw", "e5"),
                List.of("-S", "32M", "data.raw", "e5"),
                List.of("-m", "0", "data.raw", "e6"),
                List.of("-m", "17", "data.raw", "e6"),
                List.of("-T", "bogus", "data.raw", "e7"),
                List.of("-O", "bogus", "data.raw", "e8"),
                List.of("-O", "qcow2", "-o", "bogus=1", "data.raw", "e9"),
                List.of("-O", "qcow2", "-o", "cluster_size=3k", "data.raw", "e9"),
                List.of("-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2", "data.raw", "odd.raw", "e10"),
                List.of("-O", "qcow2", "-o", "backing_file=base.qcow2", "data.raw", "e11"),
                List.of("-c", "-O", "qcow2", "-o", "preallocation=metadata", "data.raw", "e12"),
                List.of("-B", "base.qcow2", "-F", "qcow2", "data.raw", "e13"),
                List.of("-x", "data.raw", "e14"),
                List.of("--t", "data.raw", "e15"),
                List.of("-o", "help"),
                List.of("-O", "qcow2", "-o", "help"),
                List.of("-O", "qcow2", "-o", "help", "data.raw", "e16"),
                List.of("--skip-broken-bitmaps", "data.raw", "e17"),
                List.of("-C", "-c", "data.raw", "e18"),
                List.of("-l", "nosuch", "top.qcow2", "e19"),
                List.of("missing-source.raw", "e20"),
                List.of("--bitmaps", "data.raw", "e21"),
                List.of("unaligned.qcow2", "e22"),
                List.of("-O", "qcow2", "-C", "salvage-zlib.qcow2", "e23"),
                List.of("-r", "abc", "data.raw", "e24"),
                List.of("-r", "-1", "data.raw", "e24"),
                List.of("-r", "1.5", "data.raw", "e24"),
                List.of("-r", "16E", "data.raw", "e24"),
                List.of("data.raw", "e24", "-r"),
                List.of("-C", "-S", "4k", "data.raw", "e25"),
                List.of("-C", "--salvage", "data.raw", "e25"),
                List.of("-C", "-O", "qcow2", "-c", "data.raw", "e25"));
    }

    /**
     * A source whose data cannot be read (the first compressed stream of zlib.qcow2 overwritten;
     * qemu places it right after the header, refcount table and block, L1 and L2 clusters): a
     * one-line error, exit 1, and the target this convert created is gone.
     */
    @Test
    void targetIsRemovedWhenTheCopyFails() throws IOException {
        Path broken = dir.resolve("broken.qcow2");
        Files.copy(dir.resolve("zlib.qcow2"), broken);
        try (var ch = java.nio.channels.FileChannel.open(broken, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[64]), 5 * 65536L);
        }
        Tools.Result q = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "convert", "broken.qcow2", "qbroken.raw");
        Tools.Result s = InProcessCli.strataImg("convert", p("broken.qcow2"), p("sbroken.raw"));
        assertEquals(1, q.exitCode(), "qemu-img must fail on the broken stream: " + q.stderr());
        assertEquals(1, s.exitCode(), s.stderr());
        assertEquals(Parity.asStrata(q.stderr()), s.stderr());
        assertFalse(Files.exists(dir.resolve("sbroken.raw")), "half-written target left behind");
    }

    private static String withoutOffsets(String mapJson) {
        return mapJson.replaceAll(", \"offset\": \\d+", "");
    }

    private static String map(String name) {
        return Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "map", "--output=json", name).stdout();
    }

    /**
     * Real {@code qemu-img info --output=json} of {@code name}, printed as if it were called
     * {@code as}; "actual-size" is masked: ext4's delayed allocation makes st_blocks of two files
     * with identical layouts (map) differ by a block now and then, for qemu-img's own outputs too.
     */
    private static String info(String name, String as) {
        return Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "info", "--output=json", name).stdout()
                .replace(name, as).replaceAll("\"actual-size\": \\d+", "\"actual-size\": N");
    }

    private static String[] command(String program, List<String> options, String source, String target) {
        List<String> cmd = new ArrayList<>();
        if (program != null) {
            cmd.add(program);
        }
        cmd.add("convert");
        cmd.addAll(options);
        cmd.add(source);
        cmd.add(target);
        return cmd.toArray(String[]::new);
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    private static void qemu(String... args) {
        Tools.Result r = Tools.qemuImg(args);
        assertEquals(0, r.exitCode(), r.stderr());
    }

    private static void io(String... args) {
        Tools.Result r = Tools.qemuIo(args);
        assertEquals(0, r.exitCode(), r.stderr());
    }
}
