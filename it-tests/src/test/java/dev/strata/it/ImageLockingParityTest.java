package dev.strata.it;

import dev.strata.daemon.Daemon;
import dev.strata.daemon.DaemonSettings;
import dev.strata.daemon.export.ExportSpec;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Image locking against the real qemu 7.2 tools, both ways.
 *
 * <p>Strata meets qemu's locks: while a real qemu-io or qemu-nbd keeps an image open, every
 * verb is run through real qemu-img and through strata-img (in-process) on the same files; the
 * output ("Failed to get \"write\" lock", the "Is another process using the image" hint, or
 * success where qemu shares) and the exit code must be the same, and no file may change.
 *
 * <p>qemu meets strata's locks: real qemu-img runs its verbs once while qemu-io holds the image
 * and once while strata holds it the same way (an image open in this JVM, or stratad serving
 * it); qemu-img must answer both alike, and work again once strata let go.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ImageLockingParityTest {
    private static final Set<String> FILES = Set.of("base.qcow2", "top.qcow2", "r.img", "ext.qcow2", "df.raw",
            "x.raw", "self.qcow2");
    private static final Duration LIMIT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @BeforeEach
    void images() {
        Tools.requireTool("qemu-img");
        Tools.requireTool("qemu-io");
        Tools.requireTool("qemu-nbd");
        Tools.run(dir, LIMIT, "sh", "-c", String.join(" && ",
                "qemu-img create -q -f qcow2 base.qcow2 64M",
                "qemu-io -c 'write -P 1 0 1M' base.qcow2 >/dev/null",
                "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2",
                "qemu-io -c 'write -P 2 4M 1M' top.qcow2 >/dev/null",
                "qemu-img create -q -f raw r.img 1M",
                "qemu-img create -q -f qcow2 -o data_file=\"$PWD/df.raw\" ext.qcow2 1M")).orFail();
        freshSelfImage();
    }

    static Stream<Arguments> holders() {
        return Stream.of(
                Arguments.of("qemu-io writing top", "top.qcow2", List.of("qemu-io", "-c", "sleep 600000", "top.qcow2"),
                        List.of("info top.qcow2", "info -U top.qcow2", "info base.qcow2", "map top.qcow2",
                                "map -U top.qcow2", "check top.qcow2", "check -r all top.qcow2",
                                "check -r leaks top.qcow2", "commit top.qcow2", "commit -d base.qcow2",
                                "snapshot -l top.qcow2", "snapshot -c s top.qcow2", "bitmap --add top.qcow2 b",
                                "amend -o lazy_refcounts=on top.qcow2", "resize top.qcow2 +1M",
                                "rebase -u -b '' top.qcow2", "rebase -b base.qcow2 -F qcow2 top.qcow2",
                                "compare top.qcow2 base.qcow2", "compare -U top.qcow2 base.qcow2",
                                "convert -O raw top.qcow2 x.raw", "convert -U -O raw top.qcow2 x.raw",
                                "convert -n -O qcow2 base.qcow2 top.qcow2", "convert -O qcow2 base.qcow2 top.qcow2",
                                "create -f qcow2 top.qcow2 1M", "dd if=base.qcow2 of=top.qcow2 -O qcow2",
                                "measure top.qcow2", "bench -c 1 top.qcow2", "bench -w -c 1 top.qcow2")),
                Arguments.of("qemu-io reading top", "top.qcow2",
                        List.of("qemu-io", "-r", "-c", "sleep 600000", "top.qcow2"),
                        List.of("info top.qcow2", "map top.qcow2", "check top.qcow2", "compare top.qcow2 base.qcow2",
                                "convert -O raw top.qcow2 x.raw", "commit top.qcow2", "commit -d base.qcow2",
                                "snapshot -c s top.qcow2", "resize top.qcow2 +1M", "check -r leaks top.qcow2",
                                "bitmap --add top.qcow2 b", "create -f qcow2 base.qcow2 1M")),
                Arguments.of("qemu-io writing the backing file", "base.qcow2",
                        List.of("qemu-io", "-c", "sleep 600000", "base.qcow2"),
                        List.of("map top.qcow2", "info top.qcow2", "info --backing-chain top.qcow2",
                                "commit top.qcow2", "rebase -b '' top.qcow2", "rebase -u -b '' top.qcow2",
                                "compare -U top.qcow2 base.qcow2")),
                Arguments.of("qemu-nbd serving raw", "r.img",
                        List.of("qemu-nbd", "-t", "-f", "raw", "-k", "SOCKET", "r.img"),
                        List.of("info r.img", "map -f raw r.img", "resize -f raw r.img 2M", "resize r.img 2M",
                                "dd if=base.qcow2 of=r.img -O raw", "create -f raw r.img 1M",
                                "check -r all -f raw r.img")),
                Arguments.of("qemu-io writing an image with a data file", "ext.qcow2",
                        List.of("qemu-io", "-c", "sleep 600000", "ext.qcow2"),
                        List.of("info ext.qcow2", "map ext.qcow2", "map -U ext.qcow2", "resize ext.qcow2 2M",
                                "info df.raw", "resize -f raw df.raw 2M", "create -f raw df.raw 1M")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("holders")
    void strataMeetsQemusLocksAsQemuImgDoes(String holderName, String held, List<String> holder, List<String> verbs) {
        List<Executable> checks = new ArrayList<>();
        String[] command = holder.stream().map(w -> w.equals("SOCKET") ? path("nbd.sock") : w).toArray(String[]::new);
        try (LockHolder h = LockHolder.start(dir, dir.resolve(held), command)) {
            for (String verb : verbs) {
                String[] args = arguments(verb);
                List<byte[]> pristine = contents();
                String before = digest();
                Tools.Result qemu = Tools.run(dir, LIMIT, Tools.prepend("qemu-img", args));
                deleteScratch();
                String afterQemu = digest();
                if (!afterQemu.equals(before)) {
                    restore(pristine); // in place: the holder keeps its locks on the same files
                }
                Tools.Result ours = InProcessCli.strataImg(args);
                deleteScratch();
                String afterOurs = digest();
                if (!afterOurs.equals(before)) {
                    restore(pristine);
                }
                checks.add(() -> Parity.assertSame(qemu, ours));
                if (qemu.exitCode() != 0) {
                    checks.add(() -> assertEquals(before, afterQemu, () -> "qemu-img " + verb + " changed the files"));
                }
                checks.add(() -> assertEquals(afterQemu, afterOurs,
                        () -> "strata-img " + verb + " left the files other than qemu-img did"));
            }
        }
        assertAll(holderName, checks);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"convert -n -O qcow2 self.qcow2 self.qcow2", "convert -O qcow2 self.qcow2 self.qcow2",
            "convert -n -f qcow2 -O qcow2 self.qcow2 self.qcow2", "dd if=self.qcow2 of=self.qcow2 -O qcow2",
            "rebase -b self.qcow2 -F qcow2 self.qcow2", "rebase -u -b self.qcow2 -F qcow2 self.qcow2",
            "compare self.qcow2 self.qcow2", "bitmap --merge b -b self.qcow2 self.qcow2 c", "check -r all self.qcow2",
            "commit self.qcow2", "create -f qcow2 -b self.qcow2 -F qcow2 self.qcow2"})
    void oneImageTwiceInOneCommandConflictsAsInQemu(String verb) {
        String[] args = arguments(verb);
        Tools.Result qemu = Tools.run(dir, LIMIT, Tools.prepend("qemu-img", args));
        byte[] afterQemu = takeSelfImage();
        Tools.Result ours = InProcessCli.strataImg(args);
        byte[] afterOurs = takeSelfImage();
        Parity.assertSame(qemu, ours);
        assertEquals(sha256(afterQemu), sha256(afterOurs), "self.qcow2 after " + verb);
    }

    /** The bytes {@code self.qcow2} was left with; then a fresh one (1 MiB, 64 KiB of data) for the next run. */
    private byte[] takeSelfImage() {
        try {
            byte[] bytes = Files.readAllBytes(dir.resolve("self.qcow2"));
            freshSelfImage();
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void freshSelfImage() {
        Tools.run(dir, LIMIT, "sh", "-c", "rm -f self.qcow2 && qemu-img create -q -f qcow2 self.qcow2 1M"
                + " && qemu-io -c 'write -P 3 0 64k' self.qcow2 >/dev/null").orFail();
    }

    /** The verbs real qemu-img runs against an image held by qemu-io or by strata. */
    private static final List<String> QEMU_VERBS = List.of("info top.qcow2", "info -U top.qcow2", "info base.qcow2",
            "map top.qcow2", "check top.qcow2", "commit top.qcow2", "commit -d base.qcow2", "snapshot -c s top.qcow2",
            "resize top.qcow2 +1M", "check -r all top.qcow2", "bitmap --add top.qcow2 b",
            "amend -o lazy_refcounts=on top.qcow2", "compare top.qcow2 base.qcow2", "convert -O raw top.qcow2 x.raw",
            "create -f qcow2 top.qcow2 1M", "create -f qcow2 base.qcow2 1M", "resize -f raw df.raw 2M",
            "info ext.qcow2");

    @ParameterizedTest(name = "read-only {0}")
    @ValueSource(booleans = {true, false})
    void qemuMeetsStrataLocksAsItMeetsItsOwn(boolean readOnly) {
        List<String> qemuIo = new ArrayList<>(List.of("qemu-io"));
        if (readOnly) {
            qemuIo.add("-r");
        }
        List<Tools.Result> underQemu;
        try (LockHolder top = LockHolder.start(dir, dir.resolve("top.qcow2"), with(qemuIo, "top.qcow2"));
             LockHolder ext = LockHolder.start(dir, dir.resolve("ext.qcow2"), with(qemuIo, "ext.qcow2"))) {
            underQemu = runQemuVerbs();
        }
        List<Tools.Result> underStrata;
        OpenOptions options = new OpenOptions(readOnly, false, false);
        try (Image top = ChainOpener.standard().open(path("top.qcow2"), null, options);
             Image ext = ChainOpener.standard().open(path("ext.qcow2"), null, options)) {
            underStrata = runQemuVerbs();
        }
        assertSameAnswers(underQemu, underStrata);
        // Closing the images gave the locks back.
        Tools.run(dir, LIMIT, "qemu-img", "resize", path("top.qcow2"), "+1M").orFail();
        Tools.run(dir, LIMIT, "qemu-img", "check", path("top.qcow2")).orFail();
    }

    @Test
    void qemuMeetsStratadsLocksAsItMeetsQemuNbds() {
        List<Tools.Result> underQemu;
        try (LockHolder h = LockHolder.start(dir, dir.resolve("top.qcow2"),
                "qemu-nbd", "-r", "-t", "-k", path("q.sock"), "top.qcow2")) {
            underQemu = runQemuVerbs();
        }
        List<Tools.Result> underStrata;
        List<ExportSpec> exports = List.of(new ExportSpec("top", path("top.qcow2"), "qcow2", "", true));
        try (Daemon daemon = Daemon.start(new DaemonSettings(exports, false, "127.0.0.1", 0, dir.resolve("s.sock"), 16,
                true, null, false, null, Duration.ofSeconds(5)))) {
            underStrata = runQemuVerbs();
        }
        assertSameAnswers(underQemu, underStrata);
        Tools.run(dir, LIMIT, "qemu-img", "commit", path("top.qcow2")).orFail();
    }

    @Test
    void stratadRefusesAnImageBeingWrittenAsQemuNbdDoes() {
        try (LockHolder h = LockHolder.start(dir, dir.resolve("top.qcow2"), with(List.of("qemu-io"), "top.qcow2"))) {
            Tools.Result qemu = Tools.run(dir, LIMIT, "qemu-nbd", "-r", "-k", path("q.sock"), "top.qcow2");
            Tools.Result ours = Tools.run(dir, LIMIT, Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                    "dev.strata.daemon.Stratad", "-r", "-k", path("s.sock"), "top.qcow2");
            assertEquals(1, qemu.exitCode(), qemu.stderr());
            assertEquals(qemu.exitCode(), ours.exitCode(), ours.stderr());
            assertEquals(qemu.stderr().replace("qemu-nbd: ", "stratad: "), ours.stderr());
        }
    }

    private List<Tools.Result> runQemuVerbs() {
        List<Tools.Result> results = new ArrayList<>();
        for (String verb : QEMU_VERBS) {
            results.add(Tools.run(dir, LIMIT, Tools.prepend("qemu-img", arguments(verb))));
            deleteScratch();
        }
        return results;
    }

    private static void assertSameAnswers(List<Tools.Result> expected, List<Tools.Result> actual) {
        List<Executable> checks = new ArrayList<>();
        for (int i = 0; i < expected.size(); i++) {
            Tools.Result e = expected.get(i);
            Tools.Result a = actual.get(i);
            String cmd = String.join(" ", e.command());
            checks.add(() -> assertEquals(e.exitCode(), a.exitCode(), () -> "exit code of " + cmd + "\n" + a.stderr()));
            checks.add(() -> assertEquals(e.stderr(), a.stderr(), () -> "stderr of " + cmd));
            checks.add(() -> assertEquals(e.stdout(), a.stdout(), () -> "stdout of " + cmd));
        }
        assertAll(checks);
    }

    private static String[] with(List<String> command, String file) {
        List<String> c = new ArrayList<>(command);
        c.add("-c");
        c.add("sleep 600000");
        c.add(file);
        return c.toArray(String[]::new);
    }

    /** The verb's words, with '' as an empty argument and every test file as its absolute path. */
    private String[] arguments(String verb) {
        List<String> out = new ArrayList<>();
        for (String w : verb.split(" ")) {
            if (w.equals("''")) {
                out.add("");
            } else if (FILES.contains(w)) {
                out.add(path(w));
            } else if (w.startsWith("if=") || w.startsWith("of=")) {
                out.add(w.substring(0, 3) + path(w.substring(3)));
            } else {
                out.add(w);
            }
        }
        return out.toArray(String[]::new);
    }

    private String path(String name) {
        return dir.resolve(name).toString();
    }

    private void deleteScratch() {
        try {
            Files.deleteIfExists(dir.resolve("x.raw"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static final List<String> IMAGES = List.of("base.qcow2", "top.qcow2", "r.img", "ext.qcow2", "df.raw");

    private List<byte[]> contents() {
        List<byte[]> all = new ArrayList<>();
        for (String name : IMAGES) {
            try {
                all.add(Files.readAllBytes(dir.resolve(name)));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return all;
    }

    /** Writes the images' bytes back into the same files (same inodes, so locks stay). */
    private void restore(List<byte[]> contents) {
        for (int i = 0; i < IMAGES.size(); i++) {
            try {
                Files.write(dir.resolve(IMAGES.get(i)), contents.get(i));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One digest over the images the verbs may touch. */
    private String digest() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String name : IMAGES) {
                md.update(Files.readAllBytes(dir.resolve(name)));
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
