package dev.strata.it;

import dev.strata.cli.StrataImg;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Runs strata-img inside this JVM through {@link StrataImg#run(String[], PrintStream, PrintStream)}
 * (a JVM start per command would cost more than the whole comparison). Relative names resolve
 * against the JVM's working directory, the same directory {@link Tools} runs qemu-img in.
 *
 * <p>Every run has a time limit: a command that does not return fails the test instead of
 * hanging the suite. A command that throws instead of returning an exit code fails it too.
 */
public final class InProcessCli {
    /** Time limit of one in-process command. */
    public static final Duration TIMEOUT = Duration.ofSeconds(60);

    private InProcessCli() {
    }

    /** {@code strata-img ARGS}, with the default time limit. */
    public static Tools.Result strataImg(String... args) {
        return strataImg(TIMEOUT, args);
    }

    /** {@code strata-img ARGS}; fails the calling test if it takes longer than {@code timeout}. */
    public static Tools.Result strataImg(Duration timeout, String... args) {
        String[] copy = args.clone();
        return assertTimeoutPreemptively(timeout, () -> {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code;
            try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
                 PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
                code = StrataImg.run(copy, o, e);
            }
            return new Tools.Result(List.of(Tools.prepend("strata-img", args)), code,
                    out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), false);
        }, () -> "strata-img " + String.join(" ", args) + " did not finish within " + timeout);
    }
}
