package dev.strata.it;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code strata-img commit} against real {@code qemu-img commit} 7.2 into bases whose clusters
 * are larger than the job's 64 KiB chunks (128 KiB, 1 MiB, 2 MiB, with and without extended L2).
 * There a chunk fills only part of a base cluster: qemu 7.2 copies exactly the chunk (no
 * widening to the base's clusters), lets the qcow2 driver allocate the cluster, and writes
 * zeroes or discards only over ranges aligned to whole base clusters (subclusters do not count
 * in 7.2), so zero clusters of the top inside a partly written base cluster arrive as data. The
 * twin chains (a base with data and zero clusters, a larger top with data, zero, discarded and
 * compressed clusters at chunk but not cluster boundaries) are built by real qemu-img and
 * qemu-io. Output and exit code must match; for base and top the guest layout (extents with
 * their depth and flags, neighbours with the same flags merged, host offsets left out: qemu's
 * job has 16 requests in flight and allocates in varying order) and the host bytes mapped must
 * match, the twins must compare equal and ours must pass real {@code qemu-img check}.
 */
class CommitLargeClusterParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/commit-large-cluster");

    @BeforeAll
    static void tools() {
        Tools.requireTool("qemu-img");
        Tools.requireTool("qemu-io");
    }

    @AfterAll
    static void cleanUp() {
        Corpus.deleteTree(DIR);
    }

    @ParameterizedTest(name = "base {0}")
    @ValueSource(strings = {"cluster_size=128k", "cluster_size=1M", "cluster_size=2M",
            "cluster_size=128k,extended_l2=on", "cluster_size=1M,extended_l2=on", "cluster_size=2M,extended_l2=on"})
    void sameLayoutAsQemuImg(String baseOptions) throws IOException {
        Path theirs = makeChain(DIR.resolve("qemu"), baseOptions);
        Path ours = makeChain(DIR.resolve("strata"), baseOptions);
        Tools.Result qemu = Tools.qemuImg("commit", theirs.resolve("top.qcow2").toString());
        Tools.Result mine = InProcessCli.strataImg("commit", ours.resolve("top.qcow2").toString());
        assertEquals(qemu.stdout(), mine.stdout(), "stdout");
        assertEquals(Parity.asStrata(qemu.stderr()), mine.stderr(), "stderr");
        assertEquals(0, qemu.exitCode(), qemu.stderr());
        assertEquals(0, mine.exitCode(), mine.stderr());
        for (String layer : List.of("base.qcow2", "top.qcow2")) {
            Path q = theirs.resolve(layer);
            Path s = ours.resolve(layer);
            assertEquals(guestLayout(q), guestLayout(s), "guest layout of " + layer);
            assertEquals(hostBytes(q), hostBytes(s), "host bytes mapped in " + layer);
            Tools.qemuImg("compare", "-f", "qcow2", "-F", "qcow2", q.toString(), s.toString()).orFail();
            Tools.qemuImg("check", s.toString()).orFail();
        }
    }

    /** A 12 MiB base with {@code baseOptions} and a 14 MiB top over it, in a fresh {@code dir}. */
    private static Path makeChain(Path dir, String baseOptions) throws IOException {
        Corpus.deleteTree(dir);
        Files.createDirectories(dir);
        String base = dir.resolve("base.qcow2").toString();
        String top = dir.resolve("top.qcow2").toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", baseOptions, base, "12M").orFail();
        io(base, "write -P 0x11 0 1M", "write -P 0x12 5M 64k", "write -z 7M 2M");
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top, "14M").orFail();
        io(top, "write -P 0x21 64k 64k", "write -P 0x22 1088k 128k", "write -P 0x23 2M 1M", "write -z 3M 64k",
                "write -P 0x24 3136k 64k", "write -P 0x25 4160k 4k", "discard 2M 64k", "write -P 0x26 7232k 64k",
                "write -z 8M 1M", "write -P 0x27 13M 64k", "write -c -P 0x28 10M 64k");
        return dir;
    }

    private static void io(String image, String... commands) {
        List<String> args = new ArrayList<>(List.of("-f", "qcow2"));
        for (String c : commands) {
            args.add("-c");
            args.add(c);
        }
        args.add(image);
        Tools.qemuIo(args.toArray(String[]::new)).orFail();
    }

    /** The image's block status from start to end as "start+length depth present zero data", merged. */
    private static List<String> guestLayout(Path image) {
        List<String> out = new ArrayList<>();
        try (Image img = open(image)) {
            long start = 0;
            String flags = null;
            long pos = 0;
            while (pos < img.size()) {
                Extent e = img.blockStatusAt(pos, img.size() - pos);
                String f = e.depth() + " " + e.present() + " " + e.zero() + " " + e.data();
                if (!f.equals(flags)) {
                    if (flags != null) {
                        out.add(start + "+" + (pos - start) + " " + flags);
                    }
                    start = pos;
                    flags = f;
                }
                pos = e.end();
            }
            out.add(start + "+" + (pos - start) + " " + flags);
        }
        return out;
    }

    /** Guest bytes that have a host location in the image's chain. */
    private static long hostBytes(Path image) {
        long total = 0;
        try (Image img = open(image)) {
            for (long pos = 0; pos < img.size(); ) {
                Extent e = img.blockStatusAt(pos, img.size() - pos);
                if (e.hasOffset()) {
                    total += e.length();
                }
                pos = e.end();
            }
        }
        return total;
    }

    private static Image open(Path image) {
        return ChainOpener.standard().open(image.toString(), "qcow2", OpenOptions.readOnlyChain());
    }
}
