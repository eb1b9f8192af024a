package dev.strata.it;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Random write / write-zeroes / discard workloads through a read-write {@link Image} on qcow2
 * images made by real qemu-img, mirrored on a raw reference file with the same operations;
 * afterwards real {@code qemu-img compare} must find them equal and real {@code qemu-img check}
 * must exit 0. Variants cover v2/v3, cluster sizes, extended L2, refcount widths, lazy refcounts,
 * backing files (copy-on-write), internal snapshots (shared clusters and L2 tables), refcount
 * table growth and many threads.
 */
class Qcow2WriteWorkloadTest {
    private static final Path DIR = Tools.CWD.resolve("target/qcow2-write-workload");
    private static final long SIZE = 64L << 20;

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

    /** {create options, backing?, snapshot?, threads, operations, seed}. */
    static Stream<Object[]> variants() {
        return Stream.of(
                new Object[] {"compat=1.1", false, false, 1, 300, 1},
                new Object[] {"compat=0.10", false, false, 1, 300, 2},
                new Object[] {"compat=0.10", true, false, 1, 300, 3},
                new Object[] {"cluster_size=512", false, false, 1, 400, 4},
                new Object[] {"cluster_size=512,refcount_bits=1", false, false, 1, 600, 5},
                new Object[] {"cluster_size=2M", true, false, 1, 200, 6},
                new Object[] {"extended_l2=on", false, false, 1, 300, 7},
                new Object[] {"extended_l2=on", true, false, 1, 300, 8},
                new Object[] {"extended_l2=on,cluster_size=2M", true, true, 1, 200, 9},
                new Object[] {"refcount_bits=64", false, false, 1, 300, 10},
                new Object[] {"lazy_refcounts=on", false, false, 1, 300, 11},
                new Object[] {"compat=1.1", true, false, 1, 300, 12},
                new Object[] {"compat=1.1", false, true, 1, 300, 13},
                new Object[] {"compat=0.10", false, true, 1, 300, 14},
                new Object[] {"compat=1.1", true, true, 4, 400, 15},
                new Object[] {"cluster_size=4096", false, false, 8, 800, 16},
                new Object[] {"extended_l2=on,cluster_size=16k", true, false, 4, 400, 17});
    }

    @ParameterizedTest(name = "{0} backing={1} snapshot={2} threads={3}")
    @MethodSource("variants")
    void matchesReference(String options, boolean backing, boolean snapshot, int threads, int ops, int seed)
            throws Exception {
        Path img = DIR.resolve("w" + seed + ".qcow2");
        Path base = DIR.resolve("w" + seed + ".base.qcow2");
        Path ref = DIR.resolve("w" + seed + ".raw");
        int cluster = clusterSize(options);
        boolean v2 = options.contains("compat=0.10");
        if (backing) {
            Tools.qemuImg("create", "-q", "-f", "qcow2", base.toString(), String.valueOf(SIZE)).orFail();
            Tools.qemuIo("-c", "write -P 0x5a 0 40M", "-c", "write -P 0x6b 50M 3M", base.toString()).orFail();
            Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", options, "-b", base.toString(), "-F", "qcow2",
                    img.toString(), String.valueOf(SIZE)).orFail();
        } else {
            Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", options, img.toString(), String.valueOf(SIZE)).orFail();
        }
        if (snapshot) {
            Tools.qemuIo("-c", "write -P 0x11 1M 20M", "-c", "write -z 30M 2M", img.toString()).orFail();
            Tools.qemuImg("snapshot", "-c", "s1", img.toString()).orFail();
        }
        Tools.qemuImg("convert", "-O", "raw", img.toString(), ref.toString()).orFail();
        byte[] backingBytes = backing && v2 ? Files.readAllBytes(ref) : null;

        Random random = new Random(seed);
        List<long[]> plan = new ArrayList<>();
        for (int i = 0; i < ops; i++) {
            int kind = random.nextInt(10);
            long len = random.nextInt(4) == 0 ? 1 + random.nextInt(3 * cluster)
                    : 512L * (1 + random.nextInt(Math.max(1, 4 * cluster / 512)));
            if (random.nextInt(20) == 0) {
                len = 1 + random.nextInt(4 << 20);
            }
            long off = random.nextInt(3) == 0 ? random.nextInt((int) SIZE) : 512L * random.nextInt((int) (SIZE / 512));
            len = Math.min(len, SIZE - off);
            if (len <= 0) {
                continue;
            }
            plan.add(new long[] {kind < 6 ? 0 : kind < 8 ? 1 : 2, off, len, random.nextInt(2), random.nextLong()});
        }
        try (Image image = ChainOpener.standard().open(img.toString(), "qcow2", new OpenOptions(false, false, false));
             RandomAccessFile raw = new RandomAccessFile(ref.toFile(), "rw")) {
            if (threads == 1) {
                for (long[] op : plan) {
                    apply(image, op);
                    mirror(raw, op, cluster, v2, backingBytes);
                }
            } else {
                // Threads work on disjoint stripes so the reference order is well defined.
                ExecutorService pool = Executors.newFixedThreadPool(threads);
                List<Future<?>> futures = new ArrayList<>();
                long stripe = SIZE / threads;
                for (int t = 0; t < threads; t++) {
                    long lo = t * stripe;
                    List<long[]> mine = new ArrayList<>();
                    for (long[] op : plan) {
                        long off = lo + Math.floorMod(op[1], stripe - 1);
                        long len = Math.min(op[2], lo + stripe - off);
                        if (len > 0) {
                            mine.add(new long[] {op[0], off, len, op[3], op[4]});
                        }
                    }
                    futures.add(pool.submit(() -> {
                        for (long[] op : mine) {
                            apply(image, op);
                        }
                        return null;
                    }));
                    for (long[] op : mine) {
                        mirror(raw, op, cluster, v2, backingBytes);
                    }
                }
                for (Future<?> f : futures) {
                    f.get();
                }
                pool.shutdown();
            }
            image.flush();
        }
        Tools.Result cmp = Tools.qemuImg("compare", "-f", "qcow2", "-F", "raw", img.toString(), ref.toString());
        assertEquals(0, cmp.exitCode(), "qemu-img compare: " + cmp.stdout() + cmp.stderr());
        Tools.Result check = Tools.qemuImg("check", img.toString());
        assertEquals(0, check.exitCode(), "qemu-img check: " + check.stdout() + check.stderr());
    }

    private static int clusterSize(String options) {
        for (String kv : options.split(",")) {
            if (kv.startsWith("cluster_size=")) {
                return (int) Qcow2WriteCreateTest.parseSize(kv.substring(13));
            }
        }
        return 65536;
    }

    private static byte[] data(long[] op) {
        byte[] b = new byte[(int) op[2]];
        new Random(op[4]).nextBytes(b);
        return b;
    }

    private static void apply(Image image, long[] op) {
        switch ((int) op[0]) {
            case 0 -> image.write(ByteBuffer.wrap(data(op)), op[1]);
            case 1 -> image.writeZeroes(op[1], op[2], op[3] == 1);
            default -> image.discard(op[1], op[2]);
        }
    }

    /** The same operation on the raw reference, with qemu's semantics for discard. */
    private static void mirror(RandomAccessFile raw, long[] op, int cluster, boolean v2, byte[] backing)
            throws IOException {
        switch ((int) op[0]) {
            case 0 -> {
                raw.seek(op[1]);
                raw.write(data(op));
            }
            case 1 -> {
                raw.seek(op[1]);
                raw.write(new byte[(int) op[2]]);
            }
            default -> {
                long start = (op[1] + cluster - 1) / cluster * cluster;
                long end = op[1] + op[2] == SIZE ? SIZE : (op[1] + op[2]) / cluster * cluster;
                if (end > start) {
                    raw.seek(start);
                    if (v2 && backing != null) {
                        raw.write(backing, (int) start, (int) (end - start));
                    } else {
                        raw.write(new byte[(int) (end - start)]);
                    }
                }
            }
        }
    }
}
