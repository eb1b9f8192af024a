package dev.strata.it;

import dev.strata.engine.image.Image;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Commands and engine opens give back every file they open. The in-process CLI is what the
 * daemon will be: one JVM serving many requests, where a leaked descriptor per request adds up.
 */
class ResourceLeakTest {
    private static final Path FDS = Path.of("/proc/self/fd");
    private static final int ROUNDS = 25;

    @Test
    void commandsAndOpensCloseTheirFiles() throws IOException {
        assumeTrue(Files.isDirectory(FDS), "needs /proc/self/fd");
        Corpus corpus = Corpus.get();
        List<String> names = Stream.of("ch2/top2.qcow2", "ch1/top.qcow2", "comp/zstd.qcow2", "df/raw.qcow2",
                "raw/holes.raw").map(n -> corpus.image(n).name()).toList();
        String badChain = Corpus.PREFIX + "bad/loop-b.qcow2";
        String missing = Corpus.PREFIX + "bad/missing-backing.qcow2";
        runAll(names, badChain, missing); // warm up: classes, caches, lazily opened libraries
        long before = openFds();
        for (int i = 0; i < ROUNDS; i++) {
            runAll(names, badChain, missing);
        }
        long after = openFds();
        assertTrue(after - before < ROUNDS / 2,
                () -> "open descriptors grew from " + before + " to " + after + " over " + ROUNDS + " rounds");
    }

    private static void runAll(List<String> names, String badChain, String missing) {
        for (String n : names) {
            InProcessCli.strataImg("info", "--backing-chain", n);
            InProcessCli.strataImg("map", "--output=json", n);
            InProcessCli.strataImg("check", n);
            InProcessCli.strataImg("compare", n, n);
            try (Image image = EngineReadTest.open(n)) {
                image.read(ByteBuffer.allocate(4096), 0);
            }
        }
        // Failures half-way through a chain must close what was already open.
        InProcessCli.strataImg("map", badChain);
        InProcessCli.strataImg("map", missing);
        InProcessCli.strataImg("info", "--backing-chain", missing);
    }

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(FDS)) {
            return s.count();
        }
    }
}
