package dev.strata.it;

import dev.strata.engine.image.Image;
import dev.strata.it.Corpus.BadImage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Damaged and hostile images (truncated or lying headers, bad offsets, loops, missing backing
 * files, garbage compressed data): strata-img must never hang and never show a stack trace.
 *
 * <p>Where real qemu-img finishes, we must do exactly what it does (output, error wording, exit
 * code; some of its verdicts are successes, e.g. a broken magic probes as raw). Where qemu-img
 * hangs (it loops forever on a backing loop in map, check and compare), we must instead stop
 * with exactly one {@code strata-img: ...} line and exit 1 (2 for compare, whose errors are 2).
 */
class BadInputTest {
    /** qemu-img normally answers these in milliseconds; past this it is taken to hang. */
    private static final Duration QEMU_HANG = Duration.ofSeconds(2);
    /** A second, patient run of qemu-img when the first timed out but our answer is not an error. */
    private static final Duration QEMU_PATIENT = Duration.ofSeconds(30);
    private static final Duration OUR_LIMIT = Duration.ofSeconds(20);
    private static final Path SCRATCH = Tools.CWD.resolve("target/bad-read");

    @BeforeAll
    static void scratch() throws IOException {
        Corpus.deleteTree(SCRATCH);
        Files.createDirectories(SCRATCH);
    }

    @AfterAll
    static void cleanUp() {
        Corpus.deleteTree(SCRATCH);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void info(BadImage img) {
        assertHandled(1, "info", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void infoJson(BadImage img) {
        assertHandled(1, "info", "--output=json", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void infoBackingChain(BadImage img) {
        assertHandled(1, "info", "--backing-chain", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void map(BadImage img) {
        assertHandled(1, "map", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void mapJson(BadImage img) {
        assertHandled(1, "map", "--output=json", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void check(BadImage img) {
        assertHandled(1, "check", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void checkJson(BadImage img) {
        assertHandled(1, "check", "--output=json", img.name());
    }

    /** measure -O qcow2 walks the block status of the whole image (qemu's "Unable to get block status"). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void measure(BadImage img) {
        assertHandled(1, "measure", "-O", "qcow2", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void measureRawJson(BadImage img) {
        assertHandled(1, "measure", "--output=json", "-O", "raw", img.name());
    }

    /** compare reads every byte: garbage compressed data and bad data offsets show up here. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void compareWithItself(BadImage img) {
        assertHandled(2, "compare", img.name(), img.name());
    }

    /** The engine reads what qemu-img converts, or fails with a StrataException where qemu fails. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#bad")
    void engineRead(BadImage img) throws Exception {
        Path expected = SCRATCH.resolve(Path.of(img.name()).getFileName() + ".raw");
        String[] args = {"convert", "-O", "raw", img.name(), expected.toString()};
        Tools.Result convert = Tools.qemuImg(QEMU_HANG, args);
        if (convert.timedOut() && !engineRefuses(img.name())) {
            convert = Tools.qemuImg(QEMU_PATIENT, args); // only slow, or do we really disagree?
        }
        try {
            if (convert.timedOut() || convert.exitCode() != 0) {
                EngineReadTest.assertEngineRefuses(img.name(), convert);
                return;
            }
            assertTimeoutPreemptively(OUR_LIMIT, () -> {
                try (Image image = EngineReadTest.open(img.name())) {
                    assertEquals(Files.size(expected), image.size(), "virtual size");
                    assertEquals(EngineReadTest.sha256(expected), EngineReadTest.sha256(image), "SHA-256");
                }
            });
        } finally {
            Files.deleteIfExists(expected);
        }
    }

    private static boolean engineRefuses(String name) {
        try {
            assertTimeoutPreemptively(OUR_LIMIT, () -> {
                try (Image image = EngineReadTest.open(name)) {
                    EngineReadTest.readAll(image);
                }
            });
            return false;
        } catch (dev.strata.engine.StrataException e) {
            return true;
        }
    }

    /**
     * Runs {@code args} through both tools. qemu-img finished: full parity. qemu-img hung: one
     * error line and {@code hangExitCode} from us. Either way: no stack trace, no hang.
     */
    private static void assertHandled(int hangExitCode, String... args) {
        Tools.Result qemu = Tools.qemuImg(QEMU_HANG, args);
        Tools.Result ours = InProcessCli.strataImg(OUR_LIMIT, args);
        if (qemu.timedOut() && !(ours.exitCode() == hangExitCode && ours.stderr().lines().count() == 1)) {
            // Perhaps qemu-img was only slow (a loaded machine): give it time before judging.
            qemu = Tools.qemuImg(QEMU_PATIENT, args);
        }
        String cmd = String.join(" ", ours.command());
        assertFalse(ours.stderr().contains("Exception") || ours.stderr().contains("\tat "),
                () -> "stack trace from " + cmd + ":\n" + ours.stderr());
        if (!qemu.timedOut()) {
            Parity.assertSame(qemu, ours);
            return;
        }
        List<String> lines = ours.stderr().lines().toList();
        assertAll(cmd + " (qemu-img hangs on it)",
                () -> assertEquals(hangExitCode, ours.exitCode(), "exit code; stderr: " + ours.stderr()),
                () -> assertEquals("", ours.stdout(), "stdout"),
                () -> assertEquals(1, lines.size(), () -> "one error line expected, got:\n" + ours.stderr()),
                () -> assertTrue(lines.isEmpty() || lines.get(0).startsWith("strata-img: "),
                        () -> "error line must start with the program name: " + ours.stderr()));
    }
}
