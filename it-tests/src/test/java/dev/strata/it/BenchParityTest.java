package dev.strata.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata-img bench} against {@code qemu-img bench}: every output line but the time
 * ("Run completed in N seconds." is compared with the number masked), every error message, and
 * for -w that the pattern really landed: the same image written by both tools compares equal,
 * and {@code qemu-io read -P} finds the pattern where the requests went.
 */
class BenchParityTest {
    @TempDir
    static Path dir;

    private static String raw;
    private static String qcow2;
    private static String overlay;

    @BeforeAll
    static void images() {
        Tools.requireTool("qemu-img");
        Tools.requireTool("qemu-io");
        raw = dir.resolve("bench.raw").toString();
        Tools.qemuImg("create", "-f", "raw", raw, "16M").orFail();
        Tools.qemuIo("-f", "raw", "-c", "write -P 0x5a 0 1M", raw).orFail();
        qcow2 = dir.resolve("bench.qcow2").toString();
        Tools.qemuImg("convert", "-f", "raw", "-O", "qcow2", raw, qcow2).orFail();
        overlay = dir.resolve("overlay.qcow2").toString();
        Tools.qemuImg("create", "-f", "qcow2", "-b", qcow2, "-F", "qcow2", overlay).orFail();
    }

    /** stdout with the one volatile number, the run time, masked. */
    private static Tools.Result masked(Tools.Result r) {
        String out = r.stdout().replaceAll("(?m)^Run completed in \\d+\\.\\d{3} seconds\\.$",
                "Run completed in N seconds.");
        return new Tools.Result(r.command(), r.exitCode(), out, r.stderr(), r.timedOut());
    }

    private static void assertSameMasked(String... args) {
        Tools.Result qemu = Tools.qemuImg(args);
        Parity.assertSame(masked(qemu), masked(InProcessCli.strataImg(args)));
    }

    static Stream<List<String>> reads() {
        return Stream.of(
                List.of("-c", "1000", "-f", "raw", raw),
                List.of("-c", "1000", raw),
                List.of("-c", "2000", "-d", "4", "-s", "64k", "-S", "8k", "-o", "1M", "-f", "qcow2", qcow2),
                List.of("-c", "500", qcow2, "-d", "1", "-s", "1000"),
                List.of("-c", "300", "-f", "qcow2", overlay, "-s", "1M", "-d", "16"),
                List.of("-c", "0", raw),
                List.of("-c", "50", "-s", "0", raw),
                List.of("-c", "40", "-S", "0", raw),
                List.of("-c", "0x20", "-d", "010", raw),
                List.of("-c", "-0", "-d", " 7", "-f", "raw", raw),
                List.of("-c", "100", "-i", "threads", raw),
                List.of("-c", "100", "-i", "io_uring", raw),
                List.of("-c", "100", "-i", "native", "-t", "none", raw),
                List.of("-c", "100", "-n", "-t", "directsync", raw),
                List.of("-c", "100", "-t", "unsafe", "-q", "-U", raw),
                List.of("-c", "100", "-t", "off", "--force-share", raw),
                List.of("-c", "100", "--image-opts", "driver=qcow2,file.filename=" + qcow2),
                List.of("-c", "100", "-s", "1M", "-o", "15M", raw),
                List.of("-c", "40", "-d", "1", "-s", "4k", "-S", "3M", "-o", "14M", raw),
                List.of("-f", "raw", raw));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("reads")
    void read(List<String> args) {
        assertSameMasked(Tools.prepend("bench", args.toArray(String[]::new)));
    }

    /** One write run: options, the bytes it covers (for qemu-io read -P), the pattern. */
    record WriteRun(List<String> options, String format, long start, long length, int pattern) {
        @Override
        public String toString() {
            return String.join(" ", options) + " (" + format + ")";
        }
    }

    static Stream<WriteRun> writes() {
        return Stream.of(
                new WriteRun(List.of("-w", "-c", "256", "--pattern=0x3c", "-f", "raw"), "raw", 0, 1 << 20, 0x3c),
                new WriteRun(List.of("-w", "-c", "256", "--pattern=7"), "raw", 0, 1 << 20, 7),
                new WriteRun(List.of("-w", "-c", "100", "-s", "64k", "-o", "2M", "--pattern=200", "-f", "qcow2"),
                        "qcow2", 2 << 20, 100 * 65536L, 200),
                new WriteRun(List.of("-w", "-c", "64", "-d", "8", "--flush-interval=16", "--pattern=9", "-f", "qcow2"),
                        "qcow2", 0, 64 * 4096L, 9),
                new WriteRun(List.of("-w", "-c", "64", "-d", "8", "--flush-interval=8", "--no-drain", "--pattern=1",
                        "-f", "raw"), "raw", 0, 64 * 4096L, 1),
                new WriteRun(List.of("-w", "-c", "30", "-s", "1000", "-t", "writethrough", "--pattern=0xff", "-f", "raw"),
                        "raw", 0, 30000, 0xff),
                new WriteRun(List.of("-w", "-c", "10", "-s", "512", "-S", "4096", "-o", "100k", "-f", "qcow2"),
                        "qcow2", 100 << 10, 512, 0));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("writes")
    void write(WriteRun w) throws IOException {
        Path image = dir.resolve("written." + w.format());
        Path fresh = Path.of(w.format().equals("raw") ? raw : qcow2);
        Files.copy(fresh, image, StandardCopyOption.REPLACE_EXISTING);
        List<String> args = new ArrayList<>();
        args.add("bench");
        args.addAll(w.options());
        args.add(image.toString());
        String[] argv = args.toArray(String[]::new);

        Tools.Result qemu = Tools.qemuImg(argv);
        Path kept = dir.resolve("written-by-qemu." + w.format());
        Files.move(image, kept, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(fresh, image);
        Tools.Result ours = InProcessCli.strataImg(argv);

        Parity.assertSame(masked(qemu), masked(ours));
        String read = "read -P " + w.pattern() + " " + w.start() + " " + w.length();
        Tools.Result check = Tools.qemuIo("-f", w.format(), "-c", read, image.toString());
        assertAll(
                () -> assertEquals(0, check.exitCode(), check.stderr()),
                () -> assertTrue(!check.stdout().contains("Pattern verification failed"), check.stdout()),
                () -> assertEquals(0, Tools.qemuImg("compare", "-f", w.format(), "-F", w.format(), kept.toString(),
                        image.toString()).exitCode(), "qemu-img compare with qemu-img's result"));
        if (w.format().equals("qcow2")) {
            Tools.qemuImg("check", "-f", "qcow2", image.toString()).orFail();
        }
    }

    static Stream<List<String>> errors() {
        String missing = dir.resolve("missing.qcow2").toString();
        return Stream.of(
                List.of(),
                List.of(raw, qcow2),
                List.of("-c", "x", raw),
                List.of("-c", "-1", raw),
                List.of("-c", "3000000000", raw),
                List.of("-c", "", raw),
                List.of("-c", "5x", raw),
                List.of("-d", "x", raw),
                List.of("-d", "3000000000", raw),
                List.of("-s", "x", raw),
                List.of("-s", "3G", raw),
                List.of("-S", "x", raw),
                List.of("-S", "3G", raw),
                List.of("-o", "x", raw),
                List.of("-o", "-1", raw),
                List.of("--pattern=300", raw),
                List.of("--pattern=x", raw),
                List.of("--pattern=-1", raw),
                List.of("--flush-interval=5", raw),
                List.of("-w", "--flush-interval=5", "-d", "8", raw),
                List.of("-w", "--flush-interval=x", raw),
                List.of("--flush", "-w", raw),
                List.of("-i", "foo", raw),
                List.of("-i", "native", raw),
                List.of("-n", "-c", "1", raw),
                List.of("-n", "-i", "threads", "-c", "1", raw),
                List.of("-t", "foo", raw),
                List.of("-c", "x", "-d", "y", raw),
                List.of("-x", raw),
                List.of("-c"),
                List.of("--object", "secret,id=s,data=x", raw),
                List.of(missing),
                List.of("-n", missing),
                List.of("-f", "qcow2", raw),
                List.of("-f", "nonsense", raw),
                List.of("-c", "5", "-o", "16M", raw),
                List.of("-c", "5", "-o", "100M", "-f", "qcow2", qcow2),
                List.of("-c", "2", "-d", "1", "-s", "32M", raw),
                List.of("-c", "6", "-d", "1", "-S", "5M", "-s", "4M", raw));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("errors")
    void error(List<String> args) {
        assertSameMasked(Tools.prepend("bench", args.toArray(String[]::new)));
    }

    /** qemu-img waits forever with -d 0; strata-img says why it cannot run and fails. */
    @Test
    void depthZeroIsRefusedInsteadOfWaitingForever() {
        Tools.Result ours = InProcessCli.strataImg("bench", "-c", "5", "-d", "0", raw);
        assertEquals(1, ours.exitCode());
        assertEquals("strata-img: Queue depth 0 can never send a request (qemu-img would wait forever)\n", ours.stderr());
    }
}
