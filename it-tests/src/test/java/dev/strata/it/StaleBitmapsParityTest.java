package dev.strata.it;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * qcow2 images whose bitmaps extension is not vouched for by the bitmaps autoclear bit: a v2
 * image made by real {@code qemu-img amend -o compat=0.10} of an image with persistent bitmaps
 * (a v2 header has no autoclear field), and a v3 image whose autoclear bit was cleared the way a
 * program without bitmap support leaves it. qemu warns on every open of such a file ("warning:
 * This qcow2 v2 image contains bitmaps, ..." or "warning: a program lacking bitmap support ...",
 * then a hint without a trailing newline), backing files included, and a read-write open drops
 * the extension from the header. One more image has an autoclear bit qemu does not know, which a
 * read-write open clears (with its bitmaps loaded and stored as usual).
 *
 * <p>Each image set (an image, or an overlay over such an image) is made once per run by real
 * qemu-img and qemu-io. Each case copies the set into one directory, runs real qemu-img there,
 * sets the result aside, copies the set again and runs strata-img (in-process): stdout, stderr
 * (program name substituted, also after the hint, which has no newline; bitmap node names
 * masked) and exit code must be qemu-img's, and every file of the directory must be byte for
 * byte the same (internal snapshot dates masked). Volatile numbers are masked: bench's run time
 * and info's disk usage.
 */
class StaleBitmapsParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/stale-bitmaps-parity");
    /** Where both tools run on copies of a set. */
    private static final Path WORK = DIR.resolve("work");
    private static final Path QEMU_RESULT = DIR.resolve("qemu-result");
    private static final Path TOP = WORK.resolve("t.qcow2");
    private static final Path BASE = WORK.resolve("base.qcow2");
    private static final Path OTHER = WORK.resolve("other.qcow2");
    private static final Path SOURCE = WORK.resolve("src.raw");
    private static final String HINT_END = "on the image file to fix.";
    /** Offset of autoclear_features in a v3 header (docs/interop/qcow2.txt). */
    private static final int AUTOCLEAR_FEATURES = 88;

    /** The image sets: the top image t.qcow2 and what lies beside it. */
    enum Set {
        V2("v2 (amend compat=0.10 kept the extension)"),
        V3("v3, autoclear bit cleared"),
        UNKNOWN_AUTOCLEAR("v3, consistent bitmaps, an unknown autoclear bit"),
        OVER_V2("overlay over the v2 image"),
        OVER_V3("overlay over the v3 image");

        private final String label;

        Set(String label) {
            this.label = label;
        }

        @Override
        public String toString() {
            return label;
        }

        Path made() {
            return DIR.resolve("made-" + name().toLowerCase());
        }
    }

    static Stream<Arguments> cases() {
        String t = TOP.toString();
        List<Arguments> c = new ArrayList<>();
        for (Set s : List.of(Set.V2, Set.V3, Set.UNKNOWN_AUTOCLEAR)) {
            for (String[] args : List.of(
                    new String[] {"info", t},
                    new String[] {"info", "--output=json", t},
                    new String[] {"map", "--output=json", t},
                    new String[] {"check", t},
                    new String[] {"check", "--output=json", t},
                    new String[] {"check", "-r", "leaks", t},
                    new String[] {"check", "-r", "all", t},
                    new String[] {"compare", t, t},
                    new String[] {"convert", "-O", "qcow2", t, WORK.resolve("out.qcow2").toString()},
                    new String[] {"convert", "--bitmaps", "-O", "qcow2", t, WORK.resolve("out.qcow2").toString()},
                    new String[] {"convert", "-n", "-f", "raw", "-O", "qcow2", SOURCE.toString(), t},
                    new String[] {"measure", "-O", "qcow2", t},
                    new String[] {"resize", t, "+1M"},
                    new String[] {"resize", "--shrink", t, "8M"},
                    new String[] {"bitmap", "--add", t, "c"},
                    new String[] {"bitmap", "--remove", t, "b"},
                    new String[] {"bitmap", "--clear", t, "b"},
                    new String[] {"snapshot", "-l", t},
                    new String[] {"snapshot", "-c", "s1", t},
                    new String[] {"amend", "-o", "compat=1.1", t},
                    new String[] {"amend", "-o", "compat=0.10", t},
                    new String[] {"amend", "-o", "lazy_refcounts=on", t},
                    new String[] {"rebase", "-u", "-b", "", t},
                    new String[] {"bench", "-c", "1", t},
                    new String[] {"bench", "-w", "-c", "4", "-f", "qcow2", t},
                    new String[] {"dd", "if=" + t, "of=" + WORK.resolve("out.raw"), "bs=1M", "count=4"},
                    // create and convert -B open the stale image as a backing file
                    new String[] {"create", "-f", "qcow2", "-b", t, "-F", "qcow2", WORK.resolve("new.qcow2").toString()},
                    new String[] {"create", "-f", "qcow2", "-b", t, "-F", "qcow2", WORK.resolve("new.qcow2").toString(),
                        "1G"},
                    new String[] {"create", "-f", "qcow2", "-b", t, WORK.resolve("new.qcow2").toString()},
                    new String[] {"create", "-f", "qcow2", "-u", "-b", t, "-F", "qcow2",
                        WORK.resolve("new.qcow2").toString(), "1G"},
                    new String[] {"convert", "-O", "qcow2", "-B", t, "-F", "qcow2", "-f", "raw", SOURCE.toString(),
                        WORK.resolve("out.qcow2").toString()})) {
                c.add(Arguments.of(s, args));
            }
        }
        for (Set s : List.of(Set.OVER_V2, Set.OVER_V3)) {
            for (String[] args : List.of(
                    new String[] {"info", t},
                    new String[] {"info", "--backing-chain", t},
                    new String[] {"map", t},
                    new String[] {"check", t},
                    new String[] {"check", "-r", "all", t},
                    new String[] {"compare", t, BASE.toString()},
                    new String[] {"convert", "-O", "raw", t, WORK.resolve("out.raw").toString()},
                    new String[] {"measure", "-O", "qcow2", t},
                    new String[] {"resize", t, "+1M"},
                    new String[] {"rebase", "-b", "", t},
                    new String[] {"rebase", "-u", "-b", "", t},
                    new String[] {"rebase", "-F", "qcow2", "-b", OTHER.toString(), t},
                    new String[] {"snapshot", "-l", t},
                    new String[] {"snapshot", "-c", "s1", t},
                    new String[] {"bitmap", "--add", t, "c"},
                    new String[] {"bitmap", "--add", t, "c", "--merge", "b", "-b", BASE.toString(), "-F", "qcow2"},
                    new String[] {"amend", "-o", "compat=1.1", t},
                    new String[] {"commit", t},
                    new String[] {"commit", "-d", t},
                    new String[] {"commit", "-b", BASE.toString(), t},
                    new String[] {"bench", "-c", "1", t},
                    new String[] {"dd", "if=" + t, "of=" + WORK.resolve("out.raw"), "bs=1M", "count=4"})) {
                c.add(Arguments.of(s, args));
            }
        }
        return c.stream();
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void sameAsQemuImg(Set set, String[] args) throws IOException {
        prepare(set);
        Tools.Result qemu = Tools.qemuImg(args);
        copyAll(WORK, QEMU_RESULT);
        prepare(set);
        Tools.Result ours = InProcessCli.strataImg(args);

        String cmd = String.join(" ", args);
        assertEquals(masked(qemu.stdout()), masked(ours.stdout()), () -> "stdout of " + cmd);
        assertEquals(masked(asStrata(qemu.stderr())), masked(ours.stderr()), () -> "stderr of " + cmd);
        assertEquals(qemu.exitCode(), ours.exitCode(), () -> "exit code of " + cmd + "\nstderr: " + ours.stderr());
        try (Stream<Path> files = Files.list(QEMU_RESULT)) {
            for (Path theirs : files.sorted().toList()) {
                Path mine = WORK.resolve(theirs.getFileName());
                assertArrayEquals(SnapshotTableDates.withoutDates(theirs), SnapshotTableDates.withoutDates(mine),
                        () -> "bytes of " + theirs.getFileName() + " after " + cmd);
            }
        }
    }

    /**
     * qemu-img's stderr as strata-img prints it: the program name substituted at line starts and
     * where an error follows the stale-bitmaps hint on its line.
     */
    private static String asStrata(String stderr) {
        return Parity.asStrata(stderr.replace(HINT_END + "qemu-img: ", HINT_END + "strata-img: "));
    }

    /** Volatile numbers masked: bench's run time, disk usage, bitmap node names. */
    private static String masked(String text) {
        return text.replaceAll("(?m)^Run completed in \\d+\\.\\d{3} seconds\\.$", "Run completed in N seconds.")
                .replaceAll("(?m)^disk size: .*$", "disk size: N")
                .replaceAll("\"actual-size\": \\d+", "\"actual-size\": N")
                .replaceAll("#block\\d+", "#blockN");
    }

    /** The work directory holding exactly a copy of {@code set}'s files. */
    private static void prepare(Set set) throws IOException {
        Path made = made(set);
        deleteAll(WORK);
        copyAll(made, WORK);
    }

    private static void copyAll(Path from, Path to) throws IOException {
        deleteAll(to);
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    private static void deleteAll(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
    }

    /** The files of {@code set}, made by real qemu-img/qemu-io in the work directory once per run. */
    private static synchronized Path made(Set set) throws IOException {
        Path made = set.made();
        if (Files.isDirectory(made)) {
            return made;
        }
        deleteAll(WORK);
        Files.createDirectories(WORK);
        img("create", "-q", "-f", "raw", SOURCE.toString(), "16M");
        io("-f", "raw", "-c", "write -P 0x33 64k 192k", "-c", "write -P 0x44 3M 1M", SOURCE.toString());
        img("create", "-q", "-f", "qcow2", OTHER.toString(), "16M");
        io("-c", "write -P 0x55 1M 64k", OTHER.toString());
        switch (set) {
            case V2 -> {
                withBitmaps(TOP);
                img("amend", "-o", "compat=0.10", TOP.toString());
            }
            case V3 -> {
                withBitmaps(TOP);
                setAutoclear(TOP, 0, false);
            }
            case UNKNOWN_AUTOCLEAR -> {
                withBitmaps(TOP);
                setAutoclear(TOP, 7, true);
            }
            case OVER_V2, OVER_V3 -> {
                withBitmaps(BASE);
                if (set == Set.OVER_V2) {
                    img("amend", "-o", "compat=0.10", BASE.toString());
                } else {
                    setAutoclear(BASE, 0, false);
                }
                // qemu warns while it opens the backing file: the warning is part of its stderr
                img("create", "-q", "-f", "qcow2", "-b", BASE.getFileName().toString(), "-F", "qcow2",
                        TOP.toString());
                io("-f", "qcow2", "-c", "write -P 0x66 2M 64k", TOP.toString());
            }
            default -> throw new IllegalArgumentException(set.toString());
        }
        copyAll(WORK, made);
        return made;
    }

    /**
     * A 16 MiB v3 image with data, an enabled bitmap b and a disabled 4k bitmap d, both made
     * dirty by qemu-io writes.
     */
    private static void withBitmaps(Path image) {
        String f = image.toString();
        img("create", "-q", "-f", "qcow2", f, "16M");
        io("-f", "qcow2", "-c", "write -P 0x11 0 128k", f);
        img("bitmap", "--add", f, "b");
        img("bitmap", "--add", "-g", "4k", f, "d");
        io("-f", "qcow2", "-c", "write -P 0x22 1M 64k", "-c", "write -P 0x23 9M 4k", f);
        img("bitmap", "--disable", f, "d");
        io("-f", "qcow2", "-c", "write -P 0x24 12M 64k", f);
    }

    /** Sets or clears autoclear feature bit {@code bit} in the header of {@code image}. */
    private static void setAutoclear(Path image, int bit, boolean on) throws IOException {
        try (Qcow2Patcher p = new Qcow2Patcher(image)) {
            long autoclear = p.u64(AUTOCLEAR_FEATURES);
            p.putU64(AUTOCLEAR_FEATURES, on ? autoclear | (1L << bit) : autoclear & ~(1L << bit));
        }
    }

    private static void img(String... args) {
        Tools.qemuImg(args).orFail();
    }

    private static void io(String... args) {
        Tools.qemuIo(args).orFail();
    }
}
