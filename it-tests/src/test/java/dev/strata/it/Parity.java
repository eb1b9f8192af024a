package dev.strata.it;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Runs one command line through the real qemu-img and through strata-img (in-process, same
 * working directory) and asserts the same exit code, byte-identical stdout, and the same stderr
 * once qemu-img's program name is replaced by ours. The expected output is always what the
 * installed qemu-img prints at test time; nothing is recorded.
 */
public final class Parity {
    private Parity() {
    }

    /** qemu-img's stderr as strata-img would print it: program name substituted. */
    public static String asStrata(String qemuStderr) {
        return renamed(qemuStderr, "strata-img");
    }

    /** qemu-img's stderr as a program called {@code programName} would print it. */
    public static String renamed(String qemuStderr, String programName) {
        return qemuStderr.replaceAll("(?m)^qemu-img: ", java.util.regex.Matcher.quoteReplacement(programName + ": "))
                .replace("'qemu-img --help'", "'" + programName + " --help'");
    }

    /** Asserts that {@code qemu-img ARGS} and {@code strata-img ARGS} behave the same. */
    public static void assertSameAsQemu(String... args) {
        Tools.Result qemu = Tools.qemuImg(args);
        assertFalse(qemu.timedOut(), () -> "qemu-img " + String.join(" ", args) + " timed out");
        Tools.Result ours = InProcessCli.strataImg(args);
        assertSame(qemu, ours);
    }

    /** Asserts the same, with a time limit of {@code timeout} on each side. */
    public static void assertSameAsQemu(Duration timeout, String... args) {
        Tools.Result qemu = Tools.qemuImg(timeout, args);
        assertFalse(qemu.timedOut(), () -> "qemu-img " + String.join(" ", args) + " timed out");
        assertSame(qemu, InProcessCli.strataImg(timeout, args));
    }

    /** Asserts that {@code ours} matches the real tool's {@code qemu} result. */
    public static void assertSame(Tools.Result qemu, Tools.Result ours) {
        String cmd = String.join(" ", ours.command());
        assertAll(cmd,
                () -> assertEquals(qemu.stdout(), ours.stdout(), () -> "stdout of " + cmd),
                () -> assertEquals(asStrata(qemu.stderr()), ours.stderr(), () -> "stderr of " + cmd),
                () -> assertEquals(qemu.exitCode(), ours.exitCode(), () -> "exit code of " + cmd
                        + "\nstderr: " + ours.stderr()));
    }
}
