package dev.strata.it;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.check.CheckListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A dirty qcow2 image (lazy refcounts not written back) opened read-write: qemu repairs it in
 * qcow2_do_open before anything else, and so must strata. The dirty images are made by real
 * qemu-io (killed with SIGKILL in the middle of a write loop on a lazy_refcounts image) or by
 * setting the dirty bit of a qemu-made image and damaging its refcounts with a byte patcher;
 * each is made once per run. Each dirty image is copied to twins: real qemu-img (or qemu-io)
 * runs an operation that opens it read-write on one, strata (strata-img in-process, or the
 * engine's Image) the same operation on the other. Then the files must be byte for byte the
 * same, and real {@code qemu-img check} (JSON) and {@code map --output=json} must say the same of
 * both.
 *
 * <p>qemu prints the repair's check lines on stderr while it opens the image ("Leaked cluster
 * ...", "Repairing cluster ...", "qemu-img: ERROR writing refblock: ..."), before the verb's own
 * output. Every verb that opens an image read-write hands the CLI's stderr to the open as
 * diagnostics: strata-img's stdout, stderr and exit code must be qemu-img's, byte for byte, with
 * the program name substituted. The engine's open is compared with qemu-io the same way through
 * a listener that prints as qemu-io does.
 */
class DirtyImageOpenParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/dirty-open-parity");
    private static final Path ORIGINAL = DIR.resolve("dirty.qcow2");
    private static final Path IMAGE = DIR.resolve("t.qcow2");
    private static final Path QEMU_RESULT = DIR.resolve("qemu-opened.qcow2");
    /** Source of convert -n and dd: 16 MiB raw, some data. */
    private static final Path SOURCE = DIR.resolve("source.raw");
    /** Backing file of the commit cases' images, as their twins see it, and as it was made. */
    private static final Path BASE = DIR.resolve("base.qcow2");
    private static final Path BASE_ORIGINAL = DIR.resolve("base-original.qcow2");
    /** Dirty images made so far in this run, by case. */
    private static final Map<String, Path> MADE = new HashMap<>();

    /** How one dirty image is made. */
    private record Dirty(String name, String createOptions, boolean snapshot, long killSeed,
                         Consumer<Qcow2Patcher> patch) {
        @Override
        public String toString() {
            return name + (killSeed == 0 ? "" : " " + killSeed)
                    + (createOptions.isEmpty() ? "" : " (" + createOptions + ")");
        }
    }

    static List<Dirty> dirtyImages() {
        List<Dirty> d = new ArrayList<>();
        d.add(new Dirty("dirty bit only", "", false, 0, p -> { }));
        d.add(new Dirty("leaked cluster", "", false, 0, p -> clearL2Entry(p, 1)));
        d.add(new Dirty("refcount raised", "", false, 0, p -> addToDataRefcount(p, 2, 3)));
        d.add(new Dirty("data refcount 0 (rebuild)", "", false, 0, p -> addToDataRefcount(p, 0, -1)));
        d.add(new Dirty("refcount table entry zeroed (rebuild)", "", false, 0, p -> p.putU64(reftableEntry(p), 0)));
        d.add(new Dirty("refcount block zeroed (rebuild)", "", false, 0,
                p -> p.fill(p.firstRefcountBlock(), (int) p.clusterSize(), (byte) 0)));
        d.add(new Dirty("shared refcount lowered", "", true, 0, p -> addToDataRefcount(p, 0, -1)));
        d.add(new Dirty("OFLAG_COPIED cleared", "", false, 0,
                p -> p.putU64(l2EntryOffset(p, 0), p.u64(l2EntryOffset(p, 0)) & ~(1L << 63))));
        d.add(new Dirty("unaligned preallocated L2 entry", "", false, 0,
                p -> p.putU64(l2EntryOffset(p, 1), p.u64(l2EntryOffset(p, 1)) + 0x200 | 1)));
        d.add(new Dirty("unaligned refcount block (repair fails)", "", false, 0,
                p -> p.putU64(reftableEntry(p), p.u64(reftableEntry(p)) + 0x200)));
        d.add(new Dirty("leaked cluster", "cluster_size=4096", false, 0, p -> clearL2Entry(p, 5)));
        d.add(new Dirty("refcount table entry zeroed (rebuild)", "cluster_size=512", false, 0,
                p -> p.putU64(reftableEntry(p), 0)));
        for (long seed : new long[] {11, 12, 13}) {
            d.add(new Dirty("qemu-io killed", "", false, seed, null));
            d.add(new Dirty("qemu-io killed", "cluster_size=4096", false, seed + 100, null));
        }
        return d;
    }

    static Stream<Arguments> cliCases() {
        String image = IMAGE.toString();
        String source = SOURCE.toString();
        List<Arguments> c = new ArrayList<>();
        for (Dirty d : dirtyImages()) {
            c.add(Arguments.of(d, new String[] {"resize", image, "+0"}));
            c.add(Arguments.of(d, new String[] {"resize", image, "+1M"}));
            c.add(Arguments.of(d, new String[] {"bench", "-w", "-c", "1", "-f", "qcow2", image}));
            c.add(Arguments.of(d, new String[] {"convert", "-n", "-f", "raw", "-O", "qcow2", source, image}));
        }
        for (Dirty d : representativeImages()) {
            c.add(Arguments.of(d, new String[] {"bench", "-w", "-c", "8", "-d", "1", "-s", "64k", "-o", "1M", image}));
            c.add(Arguments.of(d, new String[] {"convert", "-n", "-p", "-O", "qcow2", source, image}));
            c.add(Arguments.of(d, new String[] {"dd", "if=" + source, "of=" + image, "-O", "qcow2", "bs=64k",
                    "count=8"}));
            c.add(Arguments.of(d, new String[] {"snapshot", "-c", "s2", image}));
            c.add(Arguments.of(d, new String[] {"bitmap", "--add", "-g", "128k", image, "b0"}));
            c.add(Arguments.of(d, new String[] {"amend", "-o", "lazy_refcounts=off", image}));
            c.add(Arguments.of(d, new String[] {"amend", "-f", "qcow2", "-o", "compat=0.10", image}));
            c.add(Arguments.of(d, new String[] {"rebase", "-u", "-b", "", image}));
            c.add(Arguments.of(d, new String[] {"rebase", "-p", "-f", "qcow2", "-b", "", image}));
        }
        return c.stream();
    }

    /** stdout, stderr (the repair lines included) and exit code as qemu-img's; the same result. */
    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cliCases")
    void strataImgOpensAsQemuImg(Dirty dirty, String[] args) throws IOException {
        Path original = made(dirty);
        Files.copy(original, IMAGE, StandardCopyOption.REPLACE_EXISTING);
        Tools.Result qemu = Tools.qemuImg(args);
        Files.move(IMAGE, QEMU_RESULT, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(original, IMAGE, StandardCopyOption.REPLACE_EXISTING);
        Tools.Result ours = InProcessCli.strataImg(args);

        Parity.assertSame(benchTimeMasked(qemu), benchTimeMasked(ours));
        assertSameResult();
    }

    static Stream<Arguments> commitCases() {
        List<Arguments> c = new ArrayList<>();
        for (Dirty d : representativeImages()) {
            if (d.patch() != null) {
                c.add(Arguments.of(d, new String[] {"commit", IMAGE.toString()}));
                c.add(Arguments.of(d, new String[] {"commit", "-d", IMAGE.toString()}));
            }
        }
        return c.stream();
    }

    /**
     * commit of a dirty image over a clean base: qemu repairs the image when it opens it, then
     * commits. Output as qemu-img's; the image and its base byte for byte the same.
     */
    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("commitCases")
    void strataImgCommitsAsQemuImg(Dirty dirty, String[] args) throws IOException {
        Path original = made(dirty, true);
        Files.copy(BASE_ORIGINAL, BASE, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(original, IMAGE, StandardCopyOption.REPLACE_EXISTING);
        Tools.Result qemu = Tools.qemuImg(args);
        byte[] qemuImage = Files.readAllBytes(IMAGE);
        byte[] qemuBase = Files.readAllBytes(BASE);
        Files.copy(BASE_ORIGINAL, BASE, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(original, IMAGE, StandardCopyOption.REPLACE_EXISTING);
        Tools.Result ours = InProcessCli.strataImg(args);

        Parity.assertSame(qemu, ours);
        assertArrayEquals(qemuImage, Files.readAllBytes(IMAGE), "image bytes");
        assertArrayEquals(qemuBase, Files.readAllBytes(BASE), "base bytes");
    }

    static Stream<Dirty> engineCases() {
        return dirtyImages().stream();
    }

    /**
     * The engine opens read-write, writes one 4 KiB block and closes; qemu-io does the same. What
     * the open printed to the diagnostics channel, rendered as qemu-io renders it, must be
     * qemu-io's stderr (less its own final "can't open device" line when the repair fails).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("engineCases")
    void engineOpensAsQemuIo(Dirty dirty) throws IOException {
        Path original = made(dirty);
        Files.copy(original, IMAGE, StandardCopyOption.REPLACE_EXISTING);
        Tools.Result qemu = Tools.qemuIo("-c", "write -P 0x5a 4096 4096", IMAGE.toString());
        Files.move(IMAGE, QEMU_RESULT, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(original, IMAGE, StandardCopyOption.REPLACE_EXISTING);
        StringBuilder printed = new StringBuilder();
        OpenOptions options = new OpenOptions(false, false, false).withDiagnostics(printedAsQemuIo(printed));
        String ourError = null;
        try (Image image = ChainOpener.standard().open(IMAGE.toString(), "qcow2", options)) {
            byte[] block = new byte[4096];
            Arrays.fill(block, (byte) 0x5a);
            image.write(ByteBuffer.wrap(block), 4096);
            image.flush();
        } catch (RuntimeException e) {
            ourError = e.getMessage();
        }
        String theirs = qemu.stderr();
        if (qemu.exitCode() == 0 && !theirs.contains("can't open")) {
            assertEquals(null, ourError, "the engine's open or write failed");
        } else {
            // qemu-io: "can't open device NAME: Could not repair dirty image: ..."
            String last = lastLine(theirs);
            assertEquals(last.substring(last.indexOf(": Could not repair") + 2), ourError, "open error");
            theirs = theirs.substring(0, theirs.lastIndexOf(last));
        }
        assertEquals(theirs, printed.toString(), "what the open printed");
        assertSameResult();
    }

    /** A diagnostics channel that prints as qemu-io's stderr: error_report lines after "qemu-io: ". */
    private static CheckListener printedAsQemuIo(StringBuilder to) {
        return new CheckListener() {
            @Override
            public void line(String text) {
                to.append(text).append('\n');
            }

            @Override
            public void error(String message) {
                to.append("qemu-io: ").append(message).append('\n');
            }

            @Override
            public void raw(String text) {
                to.append(text);
            }
        };
    }

    /** A read-only open never writes: info, map, compare and a plain check leave the file as it was. */
    @Test
    void readOnlyOpensNeverWrite() throws IOException {
        for (Dirty dirty : dirtyImages()) {
            Files.copy(made(dirty), IMAGE, StandardCopyOption.REPLACE_EXISTING);
            byte[] before = Files.readAllBytes(IMAGE);
            String name = IMAGE.toString();
            InProcessCli.strataImg("info", name);
            InProcessCli.strataImg("map", "--output=json", name);
            InProcessCli.strataImg("check", name);
            InProcessCli.strataImg("compare", name, name);
            InProcessCli.strataImg("convert", "-O", "raw", name, DIR.resolve("out.raw").toString());
            try (Image image = ChainOpener.standard().open(name, "qcow2", OpenOptions.readOnlyChain())) {
                image.read(ByteBuffer.allocate(65536), 0);
            } catch (RuntimeException e) {
                // a broken image may not read; it must still be left alone
            }
            assertArrayEquals(before, Files.readAllBytes(IMAGE), dirty + ": a read-only open wrote");
        }
    }

    /** Both twins: the same bytes (but snapshot dates), the same qemu-img check and map. */
    private static void assertSameResult() throws IOException {
        // snapshot -c: the twins' snapshots were made at different moments
        assertArrayEquals(SnapshotTableDates.withoutDates(QEMU_RESULT), SnapshotTableDates.withoutDates(IMAGE),
                "image bytes (snapshot dates masked)");
        for (String[] verb : List.of(new String[] {"check", "--output=json"}, new String[] {"map", "--output=json"})) {
            Tools.Result theirs = Tools.qemuImg(verb[0], verb[1], QEMU_RESULT.toString());
            Tools.Result ours = Tools.qemuImg(verb[0], verb[1], IMAGE.toString());
            String what = "qemu-img " + verb[0];
            assertEquals(theirs.stdout().replace(QEMU_RESULT.toString(), IMAGE.toString()), ours.stdout(), what);
            assertEquals(theirs.stderr().replace(QEMU_RESULT.toString(), IMAGE.toString()), ours.stderr(), what);
            assertEquals(theirs.exitCode(), ours.exitCode(), what);
        }
    }

    /** The dirty images the verbs other than resize and bench -c 1 / convert -n are run on. */
    static List<Dirty> representativeImages() {
        List<Dirty> all = dirtyImages();
        List<Dirty> some = new ArrayList<>();
        for (Dirty d : all) {
            if (d.name().equals("leaked cluster") || d.name().startsWith("data refcount 0")
                    || d.name().startsWith("unaligned refcount block") || d.name().equals("OFLAG_COPIED cleared")
                    || (d.killSeed() == 11)) {
                some.add(d);
            }
        }
        return some;
    }

    /** bench's one volatile number, its run time, masked. */
    private static Tools.Result benchTimeMasked(Tools.Result r) {
        return new Tools.Result(r.command(), r.exitCode(),
                r.stdout().replaceAll("(?m)^Run completed in \\d+\\.\\d{3} seconds\\.$", "Run completed in N seconds."),
                r.stderr(), r.timedOut());
    }

    /**
     * The dirty image of {@code d}, made on first use and kept for the rest of the run (a killed
     * qemu-io never leaves the same file twice, and every verb should see the same image).
     */
    private static Path made(Dirty d) throws IOException {
        return made(d, false);
    }

    /** As {@link #made(Dirty)}; {@code overBase}: the image has {@link #BASE} as its backing file. */
    private static synchronized Path made(Dirty d, boolean overBase) throws IOException {
        String key = d + (overBase ? " over base" : "");
        Path done = MADE.get(key);
        if (done != null) {
            return done;
        }
        if (overBase && !Files.exists(BASE_ORIGINAL)) {
            Files.createDirectories(DIR);
            Tools.qemuImg("create", "-q", "-f", "qcow2", BASE_ORIGINAL.toString(), "16M").orFail();
            Tools.qemuIo("-c", "write -P 0x21 0 64k", "-c", "write -P 0x22 2M 1M", BASE_ORIGINAL.toString()).orFail();
        }
        make(d, overBase);
        if (!Files.exists(SOURCE)) {
            Tools.qemuImg("create", "-q", "-f", "raw", SOURCE.toString(), "16M").orFail();
            Tools.qemuIo("-f", "raw", "-c", "write -P 0x33 64k 192k", "-c", "write -P 0x44 3M 1M",
                    SOURCE.toString()).orFail();
        }
        Path kept = DIR.resolve("dirty-" + MADE.size() + ".qcow2");
        Files.move(ORIGINAL, kept, StandardCopyOption.REPLACE_EXISTING);
        MADE.put(key, kept);
        return kept;
    }

    private static String lastLine(String text) {
        String[] lines = text.strip().split("\n");
        return lines[lines.length - 1];
    }

    /** Makes the dirty image at ORIGINAL. */
    private static void make(Dirty d, boolean overBase) throws IOException {
        Files.createDirectories(DIR);
        Files.deleteIfExists(ORIGINAL);
        String options = "lazy_refcounts=on" + (d.createOptions().isEmpty() ? "" : "," + d.createOptions());
        List<String> create = new ArrayList<>(List.of("create", "-q", "-f", "qcow2", "-o", options));
        if (overBase) {
            Files.copy(BASE_ORIGINAL, BASE, StandardCopyOption.REPLACE_EXISTING);
            // named relative to the image's directory, where every twin of the base is
            create.addAll(List.of("-b", BASE.getFileName().toString(), "-F", "qcow2"));
        }
        create.addAll(List.of(ORIGINAL.toString(), "16M"));
        Tools.qemuImg(create.toArray(String[]::new)).orFail();
        if (d.patch() == null) {
            killWriter(d.killSeed());
            try (Qcow2Patcher p = new Qcow2Patcher(ORIGINAL)) {
                assertEquals(1, p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) & 1, "the killed qemu-io left the image dirty");
            }
            return;
        }
        List<String> io = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            io.add("-c");
            io.add("write -P " + (i + 1) + " " + (i * 65536) + " 65536");
        }
        io.add(ORIGINAL.toString());
        Tools.qemuIo(io.toArray(String[]::new)).orFail();
        if (d.snapshot()) {
            Tools.qemuImg("snapshot", "-c", "s1", ORIGINAL.toString()).orFail();
        }
        try (Qcow2Patcher p = new Qcow2Patcher(ORIGINAL)) {
            d.patch().accept(p);
            p.putU64(Qcow2Patcher.INCOMPATIBLE_FEATURES, p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) | 1);
        }
    }

    /**
     * A long qemu-io write loop on the lazy-refcounts image, killed with SIGKILL after a while:
     * its refcount updates were cached, so the file is dirty and its refcounts are behind.
     */
    private static void killWriter(long seed) {
        Random random = new Random(seed);
        List<String> command = new ArrayList<>(List.of("timeout", "-s", "KILL", "0." + (3 + random.nextInt(5)),
                "qemu-io"));
        for (int i = 0; i < 20000; i++) {
            command.add("-c");
            long offset = (long) random.nextInt(16 << 20 >> 12) << 12;
            command.add("write -P " + (1 + random.nextInt(250)) + " " + offset + " 4096");
        }
        command.add(ORIGINAL.toString());
        Tools.run(command.toArray(String[]::new));
    }

    private static long reftableEntry(Qcow2Patcher p) {
        return p.u64(Qcow2Patcher.REFCOUNT_TABLE_OFFSET);
    }

    private static long l2EntryOffset(Qcow2Patcher p, int index) {
        return p.l2TableOffset(0) + 8L * index;
    }

    private static void clearL2Entry(Qcow2Patcher p, int index) {
        p.putU64(l2EntryOffset(p, index), 0);
    }

    /** Adds {@code delta} to the 16-bit refcount of the data cluster of guest cluster {@code index}. */
    private static void addToDataRefcount(Qcow2Patcher p, int index, int delta) {
        long host = p.u64(l2EntryOffset(p, index)) & Qcow2Patcher.OFFSET_MASK;
        long at = p.firstRefcountBlock() + 2 * (host >>> p.clusterBits());
        p.putU16(at, p.u16(at) + delta);
    }
}
