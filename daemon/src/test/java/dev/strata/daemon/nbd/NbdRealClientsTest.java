package dev.strata.daemon.nbd;

import dev.strata.daemon.ServerFixture;
import dev.strata.daemon.TestImages;
import dev.strata.daemon.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * stratad checked by the real clients: nbdinfo, qemu-img, nbdcopy. Where qemu-nbd can serve the
 * same file, its answers are the reference (block status of both contexts, qemu-img map over NBD);
 * otherwise the file's own {@code qemu-img map} and {@code qemu-img convert -O raw} are.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NbdRealClientsTest {
    @TempDir
    static Path dir;
    static TestImages images;
    static ServerFixture server;

    @BeforeAll
    static void start() {
        Tools.require("qemu-img", "qemu-io", "qemu-nbd", "nbdinfo", "nbdcopy");
        images = TestImages.create(dir);
        server = new ServerFixture(images);
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void listShowsEveryExportWithItsDescription() {
        String out = Tools.run(dir, "nbdinfo", "--list", "--json", server.url("")).ok().stdout();
        assertTrue(out.contains("\"export-name\": \"\""), out);
        assertTrue(out.contains("\"export-name\": \"base\""), out);
        assertTrue(out.contains("\"export-name\": \"comp\""), out);
        assertTrue(out.contains("\"description\": \"the chain\""), out);
        assertTrue(out.contains("\"description\": \"compressed\""), out);
    }

    @Test
    void jsonDescribesAReadOnlyMultiConnExport() {
        String out = Tools.run(dir, "nbdinfo", "--json", server.url("")).ok().stdout();
        for (String want : List.of("\"export-size\": 67108864", "\"is_read_only\": true", "\"can_multi_conn\": true",
                "\"can_flush\": true", "\"can_cache\": true", "\"can_df\": true", "\"can_trim\": false",
                "\"can_zero\": false", "\"block_size_minimum\": 1", "\"block_size_preferred\": 4096",
                "\"block_size_maximum\": 33554432", "\"base:allocation\"", "\"qemu:allocation-depth\"",
                "\"protocol\": \"newstyle-fixed\"", "\"structured\": true")) {
            assertTrue(out.contains(want), want + " missing in\n" + out);
        }
    }

    @ParameterizedTest
    @CsvSource({"'',top,qcow2", "base,base,raw", "comp,comp,qcow2"})
    void blockStatusEqualsQemuNbdForBothContexts(String export, String which, String format) throws Exception {
        Path file = fileOf(which);
        try (QemuNbd q = QemuNbd.serve(dir, file, format)) {
            for (String ctx : List.of("base:allocation", "qemu:allocation-depth")) {
                String ours = Tools.run(dir, "nbdinfo", "--map=" + ctx, server.url(export)).ok().stdout();
                String theirs = Tools.run(dir, "nbdinfo", "--map=" + ctx, q.url()).ok().stdout();
                assertEquals(theirs, ours, ctx + " of " + which);
            }
            String ours = Tools.run(dir, "qemu-img", "map", "--output=json", server.url(export)).ok().stdout();
            String theirs = Tools.run(dir, "qemu-img", "map", "--output=json", q.url()).ok().stdout();
            assertEquals(theirs, ours, "qemu-img map over NBD of " + which);
        }
    }

    @ParameterizedTest
    @CsvSource({"'',top", "base,base", "comp,comp"})
    void baseAllocationAgreesWithTheFilesOwnMap(String export, String which) {
        Path file = fileOf(which);
        List<long[]> fileMap = dataZeroRuns(Tools.run(dir, "qemu-img", "map", "--output=json", file.toString()).ok().stdout());
        List<long[]> nbdMap = dataZeroRuns(Tools.run(dir, "qemu-img", "map", "--output=json", server.url(export)).ok().stdout());
        assertEquals(render(fileMap), render(nbdMap), "data/zero runs of " + which + " over NBD vs the file");
    }

    @ParameterizedTest
    @CsvSource({"'',top", "base,base", "comp,comp"})
    void qemuImgCompareFindsTheExportIdenticalToTheFile(String export, String which) {
        Tools.run(dir, "qemu-img", "compare", fileOf(which).toString(), server.url(export)).ok();
    }

    @ParameterizedTest
    @CsvSource({"'',top,1", "'',top,4", "base,base,1", "comp,comp,4"})
    void nbdcopyGivesTheBytesOfQemuImgConvert(String export, String which, int connections) {
        Path ref = TestImages.convertRaw(fileOf(which), dir.resolve(which + ".ref.raw"));
        Path out = dir.resolve(which + "." + connections + ".nbdcopy.raw");
        Tools.run(dir, "nbdcopy", "--connections=" + connections, server.url(export), out.toString()).ok();
        assertEquals(Tools.sha256(ref), Tools.sha256(out), "nbdcopy of " + which);
    }

    @Test
    void qemuIoReadPatternsOverNbd() {
        String out = Tools.run(dir, "qemu-io", "-r", "-f", "raw", "-c", "read -P 0xab 0 512k", "-c", "read -P 0xcd 512k 1M",
                "-c", "read -P 0x11 10M 1M", "-c", "read -P 0 11M 64k", "-c", "read -P 7 40M 4k",
                "-c", "read -P 0 50M 1M", server.url("")).ok().stdout();
        assertTrue(!out.contains("Pattern verification failed"), out);
    }

    private static Path fileOf(String which) {
        switch (which) {
            case "top": return images.top;
            case "base": return images.base;
            default: return images.comp;
        }
    }

    private static final Pattern ENTRY = Pattern.compile(
            "\"start\": (\\d+), \"length\": (\\d+),.*?\"zero\": (true|false), \"data\": (true|false)");

    /** (start, length, data, zero) runs of a qemu-img map JSON, adjacent equal runs merged. */
    static List<long[]> dataZeroRuns(String json) {
        List<long[]> runs = new ArrayList<>();
        Matcher m = ENTRY.matcher(json);
        while (m.find()) {
            long start = Long.parseLong(m.group(1));
            long len = Long.parseLong(m.group(2));
            long zero = Boolean.parseBoolean(m.group(3)) ? 1 : 0;
            long data = Boolean.parseBoolean(m.group(4)) ? 1 : 0;
            if (!runs.isEmpty()) {
                long[] last = runs.get(runs.size() - 1);
                if (last[2] == data && last[3] == zero && last[0] + last[1] == start) {
                    last[1] += len;
                    continue;
                }
            }
            runs.add(new long[] {start, len, data, zero});
        }
        return runs;
    }

    private static String render(List<long[]> runs) {
        StringBuilder b = new StringBuilder();
        for (long[] r : runs) {
            b.append(r[0]).append(' ').append(r[1]).append(r[2] == 1 ? " data" : "").append(r[3] == 1 ? " zero" : "").append('\n');
        }
        return b.toString();
    }

    /** qemu-nbd serving one file read-only with -A on a socket of its own, the reference server. */
    static final class QemuNbd implements AutoCloseable {
        private final Process process;
        private final Path socket;

        private QemuNbd(Process process, Path socket) {
            this.process = process;
            this.socket = socket;
        }

        static QemuNbd serve(Path dir, Path file, String format) throws Exception {
            Path sock = dir.resolve("qemu-nbd-" + System.nanoTime() + ".sock");
            Process p = new ProcessBuilder("qemu-nbd", "-r", "-t", "-e", "8", "-A", "-f", format, "-k", sock.toString(),
                    file.toString()).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!Files.exists(sock)) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    p.destroyForcibly();
                    throw new AssertionError("qemu-nbd did not start");
                }
                Thread.sleep(20);
            }
            return new QemuNbd(p, sock);
        }

        String url() {
            return "nbd+unix:///?socket=" + socket;
        }

        @Override
        public void close() throws Exception {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }
}
