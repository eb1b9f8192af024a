package dev.strata.it;

/*
 * Design note: the crash-safety contract of LayerWriter, checked by killing real processes.
 * A child JVM (WriteLoopMain) writes to a qcow2 image from several threads and reports which of
 * its operations a completed flush made durable; the test kills it with SIGKILL at a random
 * moment, then real qemu-img check must find at most leaks, and the bytes the child reported
 * durable must read back (the image is read by real qemu-img convert and compared with a model
 * rebuilt from the child's seed). Bytes of operations that had started but were not reported
 * durable may hold anything. Each variant runs several rounds on the same image, so later rounds
 * open images that a crash left behind. With lazy_refcounts a crash legitimately leaves refcounts
 * behind (the dirty bit says so): there qemu-img check without -r reports errors, and the image
 * is judged after qemu's own repair on a read-write open (qemu-io on a copy). The next round's
 * child opens the dirty image as the crash left it, so strata repairs it on open; a twin repaired
 * by the engine must equal one repaired by qemu-io, byte for byte. The same SIGKILL is sent to
 * bin/strata-img convert writing a qcow2 target.
 */

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

class Qcow2CrashTest {
    private static final Path DIR = Tools.CWD.resolve("target/qcow2-crash");
    private static final long SIZE = 24L << 20;

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

    /** {name, create options, backing?, threads, cluster size, rounds, seed}. */
    static Stream<Object[]> variants() {
        return Stream.of(
                new Object[] {"default", "compat=1.1", false, 4, 65536, 5, 101},
                new Object[] {"small-clusters", "cluster_size=512", false, 3, 512, 5, 202},
                new Object[] {"extended-l2", "extended_l2=on,cluster_size=32k", false, 3, 32768, 4, 303},
                new Object[] {"lazy-refcounts", "lazy_refcounts=on", false, 3, 65536, 4, 404},
                new Object[] {"backing", "compat=1.1", true, 3, 65536, 4, 505});
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("variants")
    void killedWriterLeavesNoCorruption(String name, String options, boolean backing, int threads, int cluster,
                                        int rounds, long seed) throws Exception {
        Path img = DIR.resolve(name + ".qcow2");
        if (backing) {
            Path base = DIR.resolve(name + ".base.qcow2");
            Tools.qemuImg("create", "-q", "-f", "qcow2", base.toString(), String.valueOf(SIZE)).orFail();
            Tools.qemuIo("-c", "write -P 0x5a 0 20M", base.toString()).orFail();
            Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", options, "-b", base.toString(), "-F", "qcow2",
                    img.toString(), String.valueOf(SIZE)).orFail();
        } else {
            Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", options, img.toString(), String.valueOf(SIZE)).orFail();
        }
        Random delays = new Random(seed);
        for (int round = 0; round < rounds; round++) {
            long roundSeed = seed * 100 + round;
            String what = name + " round " + round + " seed " + roundSeed;
            byte[] before = readAll(img, "before-" + round);
            List<String> lines = runAndKill(img, roundSeed, threads, cluster, delays.nextInt(400));
            checkNotCorrupt(img, what);
            byte[] after = readAll(img, "after-" + round);
            verifyDurable(before, after, lines, roundSeed, threads, cluster, what);
            // A dirty image goes into the next round as the crash left it: the child's read-write
            // open repairs it (strata's own repair on open). Here a twin is repaired by strata and
            // by qemu to check that the repair is qemu's.
            repairsAsQemu(img, what);
        }
    }

    /** Kills bin/strata-img convert (256 MiB raw source to qcow2) at random moments. */
    @Test
    void killedConvertLeavesNoCorruption() throws Exception {
        Path launcher = Tools.launcher();
        Path src = DIR.resolve("convert-src.raw");
        Tools.qemuImg("create", "-q", "-f", "raw", src.toString(), "256M").orFail();
        Tools.qemuIo("-f", "raw", "-c", "write -P 0x33 0 96M", "-c", "write -P 0x44 128M 64M",
                "-c", "write -P 0x55 224M 7M", src.toString()).orFail();
        Random r = new Random(77);
        for (int round = 0; round < 3; round++) {
            Path dst = DIR.resolve("convert-" + round + ".qcow2");
            Process p = new ProcessBuilder(launcher.toString(), "convert", "-O", "qcow2", src.toString(), dst.toString())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            // Wait until the target exists, then let the copy run a while before the kill.
            while (p.isAlive() && !Files.exists(dst)) {
                Thread.sleep(10);
            }
            Thread.sleep(50 + r.nextInt(700));
            // The launcher may run the JVM as its child (first run: it records a class list for
            // its CDS archive), so the JVM is killed first, then the script.
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
            if (Files.exists(dst) && Files.size(dst) >= 512) {
                Tools.Result check = Tools.qemuImg("check", dst.toString());
                assertTrue(check.exitCode() == 0 || check.exitCode() == 3
                                || (check.exitCode() == 1 && check.stderr().contains("Could not open")),
                        () -> "convert killed in round: " + check);
            }
        }
    }

    private static List<String> runAndKill(Path img, long seed, int threads, int cluster, int delayMillis)
            throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Path journal = DIR.resolve("journal-" + seed);
        Files.deleteIfExists(journal);
        Path errors = DIR.resolve("stderr-" + seed);
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                WriteLoopMain.class.getName(), img.toString(), String.valueOf(seed), String.valueOf(threads),
                String.valueOf(cluster), journal.toString())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(errors.toFile()).start();
        // Kill only once the writer is at work (some flushes done), at a random moment after that.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (p.isAlive() && System.nanoTime() < deadline && !journalHasDurable(journal)) {
            Thread.sleep(20);
        }
        if (!p.isAlive()) {
            fail("writer died: " + Files.readString(errors));
        }
        Thread.sleep(delayMillis);
        p.destroyForcibly();
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the killed writer did not exit");
        String err = Files.readString(errors);
        assertTrue(err.isEmpty(), () -> "writer wrote to stderr: " + err);
        return Files.readAllLines(journal, StandardCharsets.US_ASCII);
    }

    private static boolean journalHasDurable(Path journal) throws IOException {
        return Files.exists(journal) && Files.readString(journal, StandardCharsets.US_ASCII).contains("D ");
    }

    /**
     * qemu-img check must exit 0 or 3. A lazy-refcounts image with the dirty bit may report
     * refcount errors (that is what the bit means); it is judged after qemu repaired a copy the
     * way it does on every read-write open.
     */
    private static void checkNotCorrupt(Path img, String what) throws IOException {
        Tools.Result check = Tools.qemuImg("check", img.toString());
        if (check.exitCode() == 0 || check.exitCode() == 3) {
            return;
        }
        String info = Tools.qemuImg("info", "--output=json", img.toString()).orFail().stdout();
        assertTrue(check.exitCode() == 2 && info.contains("\"dirty-flag\": true"),
                () -> what + ": qemu-img check found corruption in a clean image:\n" + check);
        Path copy = DIR.resolve("repaired.qcow2");
        Files.copy(img, copy, StandardCopyOption.REPLACE_EXISTING);
        Tools.qemuIo("-c", "flush", copy.toString()).orFail();
        Tools.Result again = Tools.qemuImg("check", copy.toString());
        assertTrue(again.exitCode() == 0 || again.exitCode() == 3,
                () -> what + ": dirty image still corrupt after qemu's repair:\n" + again + "\nbefore repair:\n" + check);
    }

    /**
     * For a dirty image: copies opened read-write and closed by real qemu-io and by the engine
     * (both repair on open, then clear the dirty bit on close) must be byte for byte the same,
     * and clean for qemu-img check.
     */
    private static void repairsAsQemu(Path img, String what) throws IOException {
        String info = Tools.qemuImg("info", "--output=json", img.toString()).orFail().stdout();
        if (!info.contains("\"dirty-flag\": true")) {
            return;
        }
        Path theirs = DIR.resolve("qemu-repaired.qcow2");
        Path ours = DIR.resolve("strata-repaired.qcow2");
        Files.copy(img, theirs, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(img, ours, StandardCopyOption.REPLACE_EXISTING);
        Tools.qemuIo("-c", "flush", theirs.toString()).orFail();
        try (Image image = ChainOpener.standard().open(ours.toString(), "qcow2", new OpenOptions(false, false, false))) {
            image.flush();
        }
        assertEquals(-1L, Files.mismatch(theirs, ours), () -> what + ": strata's repair on open"
                + " differs from qemu's");
        Tools.Result check = Tools.qemuImg("check", ours.toString());
        assertTrue(check.exitCode() == 0, () -> what + ": not clean after strata's repair on open:\n" + check);
    }

    private static byte[] readAll(Path img, String tag) throws IOException {
        Path raw = DIR.resolve("read-" + tag + ".raw");
        Tools.qemuImg("convert", "-O", "raw", img.toString(), raw.toString()).orFail();
        byte[] b = Files.readAllBytes(raw);
        Files.delete(raw);
        return b;
    }

    /**
     * Rebuilds each thread's operations from the seed: the ones reported durable are applied to
     * the content before the round, the bytes of later operations that had started (and of
     * discards, whose result qemu leaves open at partial clusters) become unknown; every known
     * byte must match.
     */
    private static void verifyDurable(byte[] before, byte[] after, List<String> lines, long seed, int threads,
                                      int cluster, String what) {
        int[] durable = new int[threads];
        int[] started = new int[threads];
        Arrays.fill(started, -1);
        for (String l : lines) {
            String[] f = l.split(" ");
            if (f.length != 3) {
                continue; // the line the kill cut short
            }
            int t = Integer.parseInt(f[1]);
            int n = Integer.parseInt(f[2]);
            if (f[0].equals("D")) {
                durable[t] = Math.max(durable[t], n);
            } else if (f[0].equals("S")) {
                started[t] = Math.max(started[t], n);
            }
        }
        byte[] expected = before.clone();
        boolean[] unknown = new boolean[expected.length];
        long checkedOps = 0;
        for (int t = 0; t < threads; t++) {
            Random r = WriteLoopMain.random(seed, t);
            for (int i = 0; i <= Math.max(started[t], durable[t] - 1); i++) {
                WriteLoopMain.Op op = WriteLoopMain.op(r, t, threads, SIZE, cluster);
                int from = (int) op.offset();
                int to = (int) (op.offset() + op.length());
                if (i >= durable[t] || op.kind() == WriteLoopMain.DISCARD) {
                    Arrays.fill(unknown, from, to, true);
                } else {
                    Arrays.fill(expected, from, to, op.kind() == WriteLoopMain.WRITE ? op.pattern() : 0);
                    Arrays.fill(unknown, from, to, false);
                    checkedOps++;
                }
            }
        }
        assertTrue(checkedOps > 0, () -> what + ": no operation was durable before the kill");
        assertEquals(expected.length, after.length, what + ": virtual size");
        for (int i = 0; i < expected.length; i++) {
            if (!unknown[i] && expected[i] != after[i]) {
                int at = i;
                fail(what + ": durable byte at guest offset " + at + " reads " + after[at] + ", expected "
                        + expected[at] + " (durable ops per thread " + Arrays.toString(durable) + ", started "
                        + Arrays.toString(started) + ")");
            }
        }
    }
}
