package dev.strata.it;

import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.qcow2.Qcow2CreateSpec;
import dev.strata.engine.format.qcow2.Qcow2Creator;
import dev.strata.engine.storage.FileStorage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link Qcow2Creator} against real {@code qemu-img create -f qcow2}: for each option set, qemu
 * creates the image, we record its {@code info --output=json} and bytes, delete it and create
 * ours at the same path; real qemu-img must print the same info ("actual-size" masked: the host
 * file system's block accounting of identical bytes written in different pieces differs by a
 * block either way; cmp checks the bytes), check must pass, and the
 * files must be byte-identical (cmp, sparse-aware by being whole-file; images over 2 GiB of
 * apparent size are compared on their first 16 MiB).
 */
class Qcow2WriteCreateTest {
    private static final Path DIR = Tools.CWD.resolve("target/qcow2-write-create");

    @BeforeAll
    static void scratch() throws IOException {
        Tools.requireTool("qemu-img");
        Corpus.deleteTree(DIR);
        Files.createDirectories(DIR);
        Tools.qemuImg("create", "-f", "qcow2", DIR.resolve("base.qcow2").toString(), "1G").orFail();
    }

    @AfterAll
    static void cleanUp() {
        Corpus.deleteTree(DIR);
    }

    static Stream<String[]> cases() {
        String[] sizes = {"0", "512", "1G"};
        List<String> opts = List.of(
                "compat=1.1", "compat=0.10", "cluster_size=512", "cluster_size=4096", "cluster_size=2M",
                "extended_l2=on", "extended_l2=on,cluster_size=16k", "compression_type=zstd", "lazy_refcounts=on",
                "refcount_bits=1", "refcount_bits=2", "refcount_bits=8", "refcount_bits=64",
                "refcount_bits=1,cluster_size=512", "preallocation=metadata", "preallocation=falloc",
                "preallocation=full", "preallocation=metadata,cluster_size=512",
                "preallocation=metadata,extended_l2=on", "preallocation=metadata,refcount_bits=1,cluster_size=4096",
                "preallocation=falloc,cluster_size=4096", "compat=0.10,preallocation=metadata",
                "backing_file=BASE,backing_fmt=qcow2", "data_file=DATA",
                "compat=1.1,lazy_refcounts=on,cluster_size=8192");
        Stream.Builder<String[]> b = Stream.builder();
        for (String o : opts) {
            for (String s : sizes) {
                if (o.contains("cluster_size=512") && o.contains("preallocation") && s.endsWith("G")) {
                    continue; // two million clusters: minutes for both tools
                }
                b.add(new String[] {o, s});
            }
        }
        b.add(new String[] {"compat=1.1", "10T"});
        b.add(new String[] {"cluster_size=2M,extended_l2=on", "10T"});
        b.add(new String[] {"compat=0.10", "10T"});
        return b.build();
    }

    @ParameterizedTest(name = "{0} size {1}")
    @MethodSource("cases")
    void sameImageAsQemu(String options, String size) throws IOException {
        Path img = DIR.resolve("img.qcow2");
        Path data = DIR.resolve("img.data");
        Files.deleteIfExists(img);
        Files.deleteIfExists(data);
        String opts = options.replace("BASE", DIR.resolve("base.qcow2").toString()).replace("DATA", data.toString());
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", opts, img.toString(), size).orFail();
        String qemuInfo = maskActualSize(Tools.qemuImg("info", "--output=json", img.toString()).orFail().stdout());
        Path qemuCopy = DIR.resolve("qemu.qcow2");
        Files.deleteIfExists(qemuCopy);
        Tools.run("cp", "--sparse=always", img.toString(), qemuCopy.toString()).orFail();
        Files.delete(img);
        if (Files.exists(data)) {
            Files.delete(data);
            Files.createFile(data);
        }
        Files.createFile(img);
        try (FileStorage file = FileStorage.open(img.toString(), false)) {
            Qcow2Creator.create(file, spec(opts, parseSize(size)));
        }
        String ours = maskActualSize(Tools.qemuImg("info", "--output=json", img.toString()).orFail().stdout());
        assertEquals(qemuInfo, ours, "qemu-img info of our image");
        Tools.qemuImg("check", img.toString()).orFail();
        long apparent = Files.size(qemuCopy);
        Tools.Result cmp = apparent <= (2L << 30)
                ? Tools.run("cmp", qemuCopy.toString(), img.toString())
                : Tools.run("cmp", "-n", String.valueOf(16 << 20), qemuCopy.toString(), img.toString());
        assertEquals(0, cmp.exitCode(), "cmp: " + cmp.stdout() + cmp.stderr());
        assertEquals(apparent, Files.size(img), "file size");
    }

    private static String maskActualSize(String info) {
        return info.replaceAll("\"actual-size\": \\d+", "\"actual-size\": N");
    }

    static long parseSize(String s) {
        long mult = 1;
        char last = s.charAt(s.length() - 1);
        if (last == 'G') {
            mult = 1L << 30;
        } else if (last == 'T') {
            mult = 1L << 40;
        } else if (last == 'M') {
            mult = 1L << 20;
        } else if (last == 'k') {
            mult = 1L << 10;
        }
        return Long.parseLong(Character.isDigit(last) ? s : s.substring(0, s.length() - 1)) * mult;
    }

    /** The spec qemu-img's option parser would hand over for {@code opts}. */
    static Qcow2CreateSpec spec(String opts, long size) {
        Map<String, String> o = new HashMap<>();
        for (String kv : opts.split(",")) {
            String[] p = kv.split("=", 2);
            o.put(p[0], p[1]);
        }
        int version = "0.10".equals(o.get("compat")) ? 2 : 3;
        int cluster = (int) parseSize(o.getOrDefault("cluster_size", "65536"));
        return new Qcow2CreateSpec(size, version, cluster, "on".equals(o.get("extended_l2")),
                o.getOrDefault("compression_type", "zlib"), "on".equals(o.get("lazy_refcounts")),
                Integer.parseInt(o.getOrDefault("refcount_bits", "16")),
                Preallocation.parse(o.getOrDefault("preallocation", "off")), o.get("backing_file"),
                o.get("backing_fmt"), o.get("data_file"), "on".equals(o.get("data_file_raw")));
    }
}
