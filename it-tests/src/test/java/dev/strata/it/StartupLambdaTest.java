package dev.strata.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The start-up path of the short read-only commands links no lambda of ours. The first lambda a
 * JVM links sets up java.lang.invoke (measured at about 3-4 ms of every strata-img command, one
 * tenth of {@code --version}), and each further call site costs a little more; qemu-img answers
 * {@code info} in 4 ms. So the code every command runs first (storage, locks, format registry,
 * qcow2 open, info and map output) uses small named or anonymous classes and plain loops instead
 * of lambdas, method references and streams. This test runs the real launcher with the JVM's
 * class-loading log and lists the lambda classes of {@code dev.strata} it loaded; a new lambda on
 * this path fails it. (It checks what is loaded, not how long anything takes.)
 */
class StartupLambdaTest {
    private static final Duration LIMIT = Duration.ofSeconds(120);
    private static final Pattern OUR_LAMBDA = Pattern.compile("(dev\\.strata\\.\\S*\\$\\$Lambda\\S*)");
    private static Path launcher;

    @BeforeAll
    static void findLauncher() {
        launcher = Tools.launcher();
    }

    @Test
    void infoOfAnImageWithSnapshotsLinksNoLambdaOfOurs() throws IOException {
        Corpus.get();
        assertNoLambdas(Corpus.dir().resolve("snap"), "info", "snaps.qcow2");
    }

    @Test
    void jsonMapOfABackingChainLinksNoLambdaOfOurs() throws IOException {
        Corpus.get();
        assertNoLambdas(Corpus.dir().resolve("ch1"), "map", "--output=json", "top.qcow2");
    }

    private static void assertNoLambdas(Path cwd, String... args) throws IOException {
        Path log = Tools.CWD.resolve("target/startup-lambda-" + args[0] + ".log");
        Files.deleteIfExists(log);
        Map<String, String> env = Map.of("STRATA_JAVA_OPTS", "-Xlog:class+load=info:file=" + log);
        Tools.Result r = Tools.run(cwd, LIMIT, env, Tools.prepend(launcher.toString(), args));
        assertEquals(0, r.exitCode(), r::stderr);
        String loaded = Files.readString(log);
        assertTrue(loaded.contains("dev.strata.cli.StrataImg"), "the log lists the classes loaded");
        List<String> lambdas = OUR_LAMBDA.matcher(loaded).results().map(m -> m.group(1)).toList();
        assertEquals(List.of(), lambdas, "lambda classes linked by `strata-img " + String.join(" ", args) + "`");
    }
}
