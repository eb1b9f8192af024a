package dev.strata.it;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static dev.strata.it.ImageRecipes.deleteTree;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata-img commit} against real {@code qemu-img commit} 7.2 on twins. Each case names a
 * chain, built in a work directory by real qemu-img create and qemu-io writes (data, zero
 * clusters, discarded clusters, compressed clusters, extended L2, a raw base, backing files in
 * another directory named relatively); qemu-img commits it and the directory is set aside; the
 * chain is built again at the same paths, its guest view saved, and strata-img commits it.
 *
 * <p>stdout, stderr and exit code must match (the -p progress lines in between the first and the
 * last are timing-dependent in qemu's block job loop, so runs of them are compared by their first
 * and last line). Then for every layer: {@code qemu-img info --output=json} (actual size
 * masked), {@code map --output=json} (host offsets compared as a sorted set: qemu's job copies
 * with up to 16 requests in flight, so which guest cluster gets which new host cluster first
 * depends on timing), {@code qemu-img compare} of the twins and a clean real
 * {@code qemu-img check}; the top's guest view must be what it was before the commit. A failing
 * commit must leave every file of ours byte for byte as it was.
 */
class CommitParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/commit-parity");
    private static final Path WORK = DIR.resolve("work");
    private static final Path QEMU_RESULT = DIR.resolve("qemu");
    private static final Path BEFORE = DIR.resolve("before.raw");
    private static final Pattern PROGRESS = Pattern.compile("(?:    \\(\\d+\\.\\d\\d/100%\\)\\r)+");
    private static final Pattern PERCENT = Pattern.compile("\\((\\d+\\.\\d\\d)/100%\\)");

    /** Layers of each chain, top first. */
    private static final Map<String, List<String>> CHAINS = new LinkedHashMap<>();

    static {
        CHAINS.put("two", List.of("top.qcow2", "base.qcow2"));
        CHAINS.put("three", List.of("top.qcow2", "sub/mid.qcow2", "sub/base.qcow2"));
        CHAINS.put("raw", List.of("top.qcow2", "base.raw"));
        CHAINS.put("ext", List.of("top.qcow2", "base.qcow2"));
        CHAINS.put("v2", List.of("top.qcow2", "base.qcow2"));
        CHAINS.put("small", List.of("top.qcow2", "base.qcow2"));
        CHAINS.put("huge", List.of("top.qcow2", "base.qcow2"));
        CHAINS.put("missing", List.of("top.qcow2"));
        CHAINS.put("lockedbase", List.of("top.qcow2", "base.qcow2"));
        CHAINS.put("lockedtop", List.of("top.qcow2", "base.qcow2"));
        CHAINS.put("snap", List.of("top.qcow2", "base.qcow2"));
        CHAINS.put("bitmap", List.of("top.qcow2", "base.qcow2"));
        CHAINS.put("datafile", List.of("top.qcow2", "top-data.raw", "base.qcow2"));
        CHAINS.put("dirtyunder", List.of("top.qcow2", "mid.qcow2", "base.qcow2"));
    }

    /** Chains whose top qemu empties by full discard, with bytes that do not depend on the time. */
    private static final List<String> DISCARDED_TOPS = List.of("bitmap", "datafile");

    static Stream<Arguments> cases() {
        List<Arguments> c = new ArrayList<>();
        add(c, "two", "top.qcow2");
        add(c, "two", "-p", "top.qcow2");
        add(c, "two", "-q", "top.qcow2");
        add(c, "two", "-d", "top.qcow2");
        add(c, "two", "-f", "qcow2", "-t", "writethrough", "top.qcow2");
        add(c, "two", "-t", "unsafe", "-r", "1G", "top.qcow2");
        add(c, "two", "--object", "secret,id=s0,data=x", "top.qcow2");
        add(c, "two", "--image-opts", "driver=qcow2,file.filename=" + WORK.resolve("top.qcow2"));
        add(c, "two", "-b", "base.qcow2", "top.qcow2");
        add(c, "two", "-b", WORK.resolve("base.qcow2").toString(), "top.qcow2");
        add(c, "two", "-b", "nope.qcow2", "top.qcow2");
        add(c, "two", "-p", "-b", "top.qcow2", "top.qcow2");
        add(c, "two", "base.qcow2");
        add(c, "two", "-p", "base.qcow2");
        add(c, "two", "-f", "raw", "top.qcow2");
        add(c, "two", "-f", "bogus", "top.qcow2");
        add(c, "two", "-t", "bogus", "top.qcow2");
        add(c, "two", "-r", "abc", "top.qcow2");
        add(c, "two", "-r", "-5", "top.qcow2");
        add(c, "two", "-x", "top.qcow2");
        add(c, "two", "top.qcow2", "base.qcow2");
        add(c, "two", "nothere.qcow2");
        add(c, "three", "top.qcow2");
        add(c, "three", "-d", "top.qcow2");
        add(c, "three", "-p", "-b", "base.qcow2", "top.qcow2");
        add(c, "three", "-b", "sub/mid.qcow2", "top.qcow2");
        add(c, "three", "-b", "sub/base.qcow2", "top.qcow2");
        add(c, "three", "-b", "mid.qcow2", "top.qcow2");
        add(c, "three", "sub/mid.qcow2");
        add(c, "raw", "top.qcow2");
        add(c, "raw", "-d", "top.qcow2");
        add(c, "ext", "top.qcow2");
        add(c, "v2", "top.qcow2");
        add(c, "small", "top.qcow2");
        add(c, "huge", "top.qcow2");
        add(c, "missing", "top.qcow2");
        add(c, "lockedbase", "top.qcow2");
        add(c, "lockedbase", "-p", "-d", "top.qcow2");
        add(c, "lockedtop", "top.qcow2");
        // tops qemu's qcow2_make_empty empties by discarding every cluster (full discard)
        add(c, "snap", "top.qcow2");
        add(c, "snap", "-p", "-b", "base.qcow2", "top.qcow2");
        add(c, "snap", "-d", "top.qcow2");
        add(c, "bitmap", "top.qcow2");
        add(c, "bitmap", "-q", "top.qcow2");
        add(c, "datafile", "top.qcow2");
        // a lazy-refcounts image left dirty under the base: qemu cannot reopen it (it would have
        // to mark it clean while it stays read-only); as the base, see aDirtyBaseIsRepairedFirst
        add(c, "dirtyunder", "top.qcow2");
        add(c, "dirtyunder", "-p", "-d", "top.qcow2");
        return c.stream();
    }

    private static void add(List<Arguments> c, String chain, String... args) {
        String[] full = new String[args.length + 1];
        full[0] = "commit";
        for (int i = 0; i < args.length; i++) {
            boolean file = (args[i].endsWith(".qcow2") || args[i].endsWith(".raw")) && !args[i].contains("=");
            boolean baseName = i > 0 && args[i - 1].equals("-b");
            full[i + 1] = file && !baseName && !args[i].startsWith("/") ? WORK.resolve(args[i]).toString() : args[i];
        }
        c.add(Arguments.of(chain + ": " + String.join(" ", args), chain, full));
    }

    /**
     * A deliberate difference: committing into a base left dirty by a crash with lazy
     * refcounts. qemu-img 7.2 reopens the base read-write without the repair an open would make,
     * allocates clusters whose refcount the crash left at 0 although they hold data, and the
     * committed image reads differently (its real check then reports errors). strata-img repairs
     * the base first (the message qemu prints when it repairs an image it opens), so the guest
     * view is kept and real qemu-img check finds the base clean.
     */
    @ParameterizedTest(name = "commit {0}")
    @ValueSource(strings = {"-b base.qcow2 top.qcow2", "mid.qcow2"})
    void aDirtyBaseIsRepairedFirst(String args) throws IOException {
        makeChain("dirtyunder");
        String[] parts = args.split(" ");
        String image = parts[parts.length - 1];
        Files.deleteIfExists(BEFORE);
        Tools.qemuImg("convert", "-O", "raw", w(image), BEFORE.toString()).orFail();
        List<String> full = new ArrayList<>(List.of("commit"));
        full.addAll(Arrays.asList(parts).subList(0, parts.length - 1));
        full.add(w(image));
        Tools.Result ours = InProcessCli.strataImg(full.toArray(new String[0]));
        assertEquals(0, ours.exitCode(), ours.stderr());
        assertEquals("Image committed.\n", ours.stdout());
        Tools.qemuImg("compare", "-F", "raw", w(image), BEFORE.toString()).orFail();
        Tools.qemuImg("check", w("base.qcow2")).orFail();
    }

    @ParameterizedTest(name = "commit {0}")
    @MethodSource("cases")
    void sameAsQemuImg(String label, String chain, String[] args) throws IOException {
        List<String> layers = CHAINS.get(chain);
        Tools.Result qemu;
        try {
            makeChain(chain);
            qemu = Tools.qemuImg(args);
        } finally {
            unlock(chain);
        }
        deleteTree(QEMU_RESULT);
        Files.move(WORK, QEMU_RESULT);
        Map<String, byte[]> before = new LinkedHashMap<>();
        Tools.Result ours;
        try {
            makeChain(chain);
            if (!chain.equals("missing")) {
                Files.deleteIfExists(BEFORE);
                Tools.qemuImg("convert", "-O", "raw", WORK.resolve("top.qcow2").toString(), BEFORE.toString()).orFail();
            }
            for (String layer : layers) {
                before.put(layer, Files.readAllBytes(WORK.resolve(layer)));
            }
            ours = InProcessCli.strataImg(args);
        } finally {
            unlock(chain);
        }
        assertEquals(progressRuns(qemu.stdout()), progressRuns(ours.stdout()), "stdout");
        assertEquals(Parity.asStrata(qemu.stderr()), ours.stderr(), "stderr");
        assertEquals(qemu.exitCode(), ours.exitCode(), () -> "exit code; our stderr: " + ours.stderr());
        assertNonDecreasing(ours.stdout());

        if (ours.exitCode() != 0) {
            for (String layer : layers) {
                assertArrayEquals(before.get(layer), Files.readAllBytes(WORK.resolve(layer)),
                        layer + " changed by a failed commit");
            }
            return;
        }
        for (String layer : layers) {
            Path theirs = QEMU_RESULT.resolve(layer);
            Path mine = WORK.resolve(layer);
            String fmt = layer.endsWith(".raw") ? "raw" : "qcow2";
            assertEquals(info(theirs, fmt).replace(QEMU_RESULT.toString(), WORK.toString()), info(mine, fmt),
                    "info of " + layer);
            String theirMap = Tools.qemuImg("map", "-f", fmt, "--output=json", theirs.toString()).orFail().stdout()
                    .replace(QEMU_RESULT.toString(), WORK.toString());
            String myMap = Tools.qemuImg("map", "-f", fmt, "--output=json", mine.toString()).orFail().stdout();
            assertTrue(!guestLayout(theirMap).isEmpty(), () -> "no extent parsed from " + theirMap);
            assertEquals(guestLayout(theirMap), guestLayout(myMap), "map of " + layer);
            assertEquals(hostBytes(theirMap), hostBytes(myMap), "host bytes used in " + layer);
            Tools.qemuImg("compare", "-f", fmt, "-F", fmt, theirs.toString(), mine.toString()).orFail();
            if (fmt.equals("qcow2")) {
                Tools.qemuImg("check", mine.toString()).orFail();
            }
        }
        Tools.qemuImg("compare", "-F", "raw", WORK.resolve("top.qcow2").toString(), BEFORE.toString()).orFail();
        if (DISCARDED_TOPS.contains(chain)) {
            for (String layer : layers.subList(0, layers.size() - 1)) {
                assertEquals(-1L, Files.mismatch(QEMU_RESULT.resolve(layer), WORK.resolve(layer)),
                        "bytes of " + layer);
            }
        }
        if (chain.equals("bitmap")) {
            for (String name : List.of("on", "off")) {
                assertEquals(bitmapMap(QEMU_RESULT.resolve("top.qcow2"), name), bitmapMap(WORK.resolve("top.qcow2"), name),
                        "bitmap " + name);
            }
        }
    }

    private static String bitmapMap(Path image, String name) {
        return Tools.run("nbdinfo", "--map=qemu:dirty-bitmap:" + name, "--", "[", "qemu-nbd", "-r", "-f", "qcow2",
                "-B", name, image.toString(), "]").orFail().stdout();
    }

    /**
     * stdout with each run of progress lines reduced to its first and last line: qemu prints a
     * line per turn of its job loop, and how many turns a job takes depends on timing.
     */
    private static String progressRuns(String stdout) {
        Matcher m = PROGRESS.matcher(stdout);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String[] lines = m.group().split("(?<=\\r)");
            String kept = lines.length == 1 ? lines[0] : lines[0] + lines[lines.length - 1];
            m.appendReplacement(out, Matcher.quoteReplacement(kept));
        }
        m.appendTail(out);
        return out.toString();
    }

    private static final Pattern HOST_RANGE = Pattern.compile("\"length\": (\\d+),[^}]*\"offset\": (\\d+)");

    private static final Pattern EXTENT = Pattern.compile(
            "\\{ \"start\": (\\d+), \"length\": (\\d+), (\"depth\": \\d+, \"present\": \\w+, \"zero\": \\w+, "
                    + "\"data\": \\w+)[^}]*}");

    /**
     * A map's extents without host offsets, neighbours with the same flags merged: the guest
     * view of allocation. Where host clusters went is left out (see {@link #hostBytes}); qemu's
     * map also splits an extent where the host offsets stop being contiguous, which varies too.
     */
    private static List<String> guestLayout(String map) {
        Matcher m = EXTENT.matcher(map);
        List<String> out = new ArrayList<>();
        long start = -1;
        long end = -1;
        String flags = null;
        while (m.find()) {
            long s0 = Long.parseLong(m.group(1));
            long len = Long.parseLong(m.group(2));
            if (flags != null && flags.equals(m.group(3)) && s0 == end) {
                end += len;
                continue;
            }
            if (flags != null) {
                out.add(start + "+" + (end - start) + " " + flags);
            }
            start = s0;
            end = s0 + len;
            flags = m.group(3);
        }
        if (flags != null) {
            out.add(start + "+" + (end - start) + " " + flags);
        }
        return out;
    }

    /**
     * How many host bytes hold the layer's data, whatever guest range each went to. Not where:
     * qemu's commit copies up to 16 chunks at once, so its host layout changes from run to run.
     */
    private static long hostBytes(String map) {
        Matcher m = HOST_RANGE.matcher(map);
        long total = 0;
        while (m.find()) {
            total += Long.parseLong(m.group(1));
        }
        return total;
    }

    private static void assertNonDecreasing(String stdout) {
        Matcher m = PERCENT.matcher(stdout);
        double last = -1;
        while (m.find()) {
            double v = Double.parseDouble(m.group(1));
            assertTrue(v >= last, () -> "progress went back: " + stdout.replace('\r', '|'));
            last = v;
        }
    }

    private static String info(Path image, String fmt) {
        return Tools.qemuImg("info", "-f", fmt, "--output=json", image.toString()).orFail().stdout()
                .replaceAll("\"actual-size\": \\d+", "\"actual-size\": N")
                .replaceAll("\"date-(sec|nsec)\": \\d+", "\"date-$1\": N");
    }

    private static String w(String name) {
        return WORK.resolve(name).toString();
    }

    private static void qcow2(String name, String size, String... options) {
        List<String> cmd = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        cmd.addAll(Arrays.asList(options));
        cmd.add(w(name));
        if (size != null) {
            cmd.add(size);
        }
        Tools.qemuImg(cmd.toArray(new String[0])).orFail();
    }

    private static void io(String name, String... commands) {
        List<String> cmd = new ArrayList<>();
        for (String command : commands) {
            cmd.add("-c");
            cmd.add(command);
        }
        cmd.add(w(name));
        Tools.qemuIo(cmd.toArray(new String[0])).orFail();
    }

    /** The usual overlay writes: data, a zeroed range, a discarded one, a compressed cluster. */
    private static void overlayWrites(String top) {
        io(top, "write -P 0x22 512k 64k", "write -z 2M 128k", "write -P 0x23 5M 4k", "write -z 3M 64k",
                "write -P 0x24 1536k 128k", "discard 1536k 64k", "write -c -P 0x25 64k 64k", "write -P 0x26 100k 7k");
    }

    private static void makeChain(String chain) throws IOException {
        deleteTree(WORK);
        Files.createDirectories(WORK.resolve("sub"));
        switch (chain) {
            case "two", "lockedbase", "lockedtop" -> {
                qcow2("base.qcow2", "4M");
                io("base.qcow2", "write -P 0x11 0 1M", "write -P 0x17 3M 64k");
                qcow2("top.qcow2", "6M", "-b", "base.qcow2", "-F", "qcow2");
                overlayWrites("top.qcow2");
                if (chain.equals("lockedbase")) {
                    Tools.run("chattr", "+i", w("base.qcow2")).orFail();
                } else if (chain.equals("lockedtop")) {
                    Tools.run("chattr", "+i", w("top.qcow2")).orFail();
                }
            }
            case "three" -> {
                qcow2("sub/base.qcow2", "4M");
                io("sub/base.qcow2", "write -P 0x11 0 2M");
                qcow2("sub/mid.qcow2", "3M", "-b", "base.qcow2", "-F", "qcow2");
                io("sub/mid.qcow2", "write -P 0x33 1M 256k", "write -z 0 64k", "write -c -P 0x34 2M 64k");
                qcow2("top.qcow2", "6M", "-b", "sub/mid.qcow2", "-F", "qcow2");
                overlayWrites("top.qcow2");
            }
            case "raw" -> {
                Tools.qemuImg("create", "-q", "-f", "raw", w("base.raw"), "4M").orFail();
                Tools.qemuIo("-f", "raw", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x12 3M 512k", w("base.raw"))
                        .orFail();
                qcow2("top.qcow2", "6M", "-b", "base.raw", "-F", "raw");
                overlayWrites("top.qcow2");
            }
            case "ext" -> {
                qcow2("base.qcow2", "4M", "-o", "extended_l2=on");
                io("base.qcow2", "write -P 0x11 0 1M");
                qcow2("top.qcow2", "4M", "-o", "extended_l2=on", "-b", "base.qcow2", "-F", "qcow2");
                io("top.qcow2", "write -P 0x22 8k 4k", "write -z 64k 2k", "write -z 128k 8k", "write -P 0x23 2M 12k",
                        "discard 2M 4k");
            }
            case "v2" -> {
                qcow2("base.qcow2", "4M", "-o", "compat=0.10");
                io("base.qcow2", "write -P 0x11 0 1M");
                qcow2("top.qcow2", "4M", "-o", "compat=0.10", "-b", "base.qcow2", "-F", "qcow2");
                io("top.qcow2", "write -P 0x22 512k 64k", "write -z 2M 128k", "write -c -P 0x25 64k 64k",
                        "write -P 0x26 3M 4k");
            }
            case "small", "huge" -> {
                qcow2("base.qcow2", "4M", "-o", chain.equals("small") ? "cluster_size=4k" : "cluster_size=1M");
                io("base.qcow2", "write -P 0x11 0 1M", "write -P 0x12 3M 8k");
                qcow2("top.qcow2", "6M", "-b", "base.qcow2", "-F", "qcow2");
                overlayWrites("top.qcow2");
            }
            case "snap", "bitmap", "datafile" -> {
                qcow2("base.qcow2", "4M");
                io("base.qcow2", "write -P 0x11 0 1M", "write -P 0x17 3M 64k");
                if (chain.equals("datafile")) {
                    // qemu opens a relative data file name against its working directory, not the
                    // image's: the name is absolute so both tools find it from the test's directory
                    Tools.run(WORK, Tools.DEFAULT_TIMEOUT, "qemu-img", "create", "-q", "-f", "qcow2", "-o",
                            "data_file=" + w("top-data.raw"), "-b", "base.qcow2", "-F", "qcow2", "top.qcow2", "6M")
                            .orFail();
                } else {
                    qcow2("top.qcow2", "6M", "-b", "base.qcow2", "-F", "qcow2");
                }
                if (chain.equals("bitmap")) {
                    Tools.qemuImg("bitmap", "--add", w("top.qcow2"), "on").orFail();
                    Tools.qemuImg("bitmap", "--add", "-g", "128k", w("top.qcow2"), "off").orFail();
                }
                io("top.qcow2", "write -P 0x21 0 64k", "write -P 0x22 1M 192k");
                if (chain.equals("snap")) {
                    Tools.qemuImg("snapshot", "-c", "s1", w("top.qcow2")).orFail();
                } else if (chain.equals("bitmap")) {
                    Tools.qemuImg("bitmap", "--disable", w("top.qcow2"), "off").orFail();
                }
                if (chain.equals("datafile")) {
                    io("top.qcow2", "write -P 0x23 5M 4k", "write -z 2M 128k", "write -P 0x24 3M 64k");
                } else {
                    overlayWrites("top.qcow2");
                }
            }
            case "dirtyunder" -> {
                qcow2("base.qcow2", "4M", "-o", "lazy_refcounts=on");
                // qemu-io aborts with the dirty bit still set (lazy refcounts)
                Tools.qemuIo("-c", "write -P 0x11 0 1M", "-c", "abort", w("base.qcow2"));
                assertTrue(Tools.qemuImg("info", "--output=json", w("base.qcow2")).orFail().stdout()
                        .contains("\"dirty-flag\": true"), "base.qcow2 left dirty");
                qcow2("mid.qcow2", "4M", "-b", "base.qcow2", "-F", "qcow2");
                io("mid.qcow2", "write -P 0x33 1M 256k");
                qcow2("top.qcow2", "6M", "-b", "mid.qcow2", "-F", "qcow2");
                overlayWrites("top.qcow2");
            }
            case "missing" -> qcow2("top.qcow2", "4M", "-u", "-b", "gone.qcow2", "-F", "qcow2");
            default -> throw new IllegalArgumentException(chain);
        }
    }

    private static void unlock(String chain) {
        if (chain.startsWith("locked")) {
            for (String layer : CHAINS.get(chain)) {
                if (Files.exists(WORK.resolve(layer))) {
                    Tools.run("chattr", "-i", w(layer)).orFail();
                }
            }
        }
    }
}
