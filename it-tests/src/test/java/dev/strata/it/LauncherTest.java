package dev.strata.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real {@code bin/strata-img} launcher as a child process: run from another working
 * directory with relative names, through a symlink, with output compared to qemu-img run the
 * same way. Only a few cases: each costs a JVM start.
 */
class LauncherTest {
    private static final Duration LIMIT = Duration.ofSeconds(120);
    private static Path launcher;

    @BeforeAll
    static void findLauncher() {
        launcher = Tools.launcher();
    }

    /** From the chain's directory, a relative name: the names qemu-img prints are the same. */
    @Test
    void infoBackingChainFromAnotherDirectory() {
        Corpus.get();
        Path cwd = Corpus.dir().resolve("ch1");
        String[] args = {"info", "--backing-chain", "top.qcow2"};
        assertSameAsQemu(cwd, launcher, "strata-img", args);
    }

    /** From a subdirectory, a name with "..": JSON on stdout must be clean (no JVM chatter). */
    @Test
    void mapJsonWithDotDot() {
        Corpus.get();
        Path cwd = Corpus.dir().resolve("ch1/sub");
        assertSameAsQemu(cwd, launcher, "strata-img", "map", "--output=json", "../top.qcow2");
    }

    /**
     * Non-ASCII, quote and backslash in names under LC_ALL=C (every tool here runs so): Java
     * would decode file names as ASCII; the launcher must make it read them as qemu-img does.
     */
    @Test
    void oddNamesUnderCLocale() {
        Corpus.get();
        Path cwd = Corpus.dir().resolve("names");
        assertSameAsQemu(cwd, launcher, "strata-img", "info", "--backing-chain", "--output=json", "top\\x.qcow2");
    }

    /** Through a symlink: the repository is still found, and errors carry the invoked name. */
    @Test
    void symlinkNameIsTheProgramName() throws IOException {
        Corpus.get();
        Path dir = Tools.CWD.resolve("target/launcher-link");
        Files.createDirectories(dir);
        Path link = dir.resolve("my-img");
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, launcher);
        Path cwd = Corpus.dir();
        assertSameAsQemu(cwd, link, "my-img", "info", "no-such-image.qcow2");
    }

    /**
     * Under a locale whose digits are not ASCII: qemu-img prints the C locale's digits whatever
     * the locale, so the launcher pins Java's. JAVA_TOOL_OPTIONS stands in for an Arabic LANG
     * (this machine has no glibc locales but C), and is what Java would pick up from one.
     */
    @Test
    void snapshotTableUnderArabicLocale() {
        Corpus.get();
        Path cwd = Corpus.dir().resolve("snap");
        Map<String, String> env = Map.of("JAVA_TOOL_OPTIONS", "-Duser.language=ar -Duser.country=EG");
        String[] args = {"snapshot", "-l", "snaps.qcow2"};
        Tools.Result qemu = Tools.run(cwd, LIMIT, Tools.prepend("qemu-img", args));
        Tools.Result ours = Tools.run(cwd, LIMIT, env, Tools.prepend(launcher.toString(), args));
        assertAll(() -> assertTrue(qemu.stdout().contains("00:00:00.000"), qemu.stdout()),
                () -> assertEquals(qemu.stdout(), ours.stdout(), "stdout"),
                () -> assertEquals(qemu.exitCode(), ours.exitCode(), "exit code"));
    }

    private static void assertSameAsQemu(Path cwd, Path program, String name, String... args) {
        Tools.Result qemu = Tools.run(cwd, LIMIT, Tools.prepend("qemu-img", args));
        Tools.Result ours = Tools.run(cwd, LIMIT, Tools.prepend(program.toString(), args));
        String cmd = name + " " + String.join(" ", args) + " in " + cwd;
        assertFalse(ours.timedOut(), () -> cmd + " timed out");
        assertAll(cmd,
                () -> assertEquals(qemu.stdout(), ours.stdout(), "stdout"),
                () -> assertEquals(Parity.renamed(qemu.stderr(), name), ours.stderr(), "stderr"),
                () -> assertEquals(qemu.exitCode(), ours.exitCode(), "exit code"));
    }
}
