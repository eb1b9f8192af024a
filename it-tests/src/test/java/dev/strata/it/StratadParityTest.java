package dev.strata.it;

import dev.strata.daemon.Daemon;
import dev.strata.daemon.DaemonSettings;
import dev.strata.daemon.export.ExportSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The two faces against each other: stratad (in-process) serves a qcow2 chain, a compressed
 * qcow2 and a raw file with holes, and the real qemu-img and strata-img are both pointed at the
 * NBD URLs. Every answer must be the same, byte for byte; the URLs must also compare equal to
 * the files they serve.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class StratadParityTest {
    @TempDir
    static Path dir;
    static Daemon daemon;
    static Path socket;
    static int tcpPort;

    @BeforeAll
    static void start() {
        Tools.requireTool("qemu-img");
        Tools.requireTool("qemu-io");
        Tools.run(dir, InProcessCli.TIMEOUT, "sh", "-c", String.join(" && ",
                "qemu-img create -q -f qcow2 base.qcow2 8M",
                "qemu-io -c 'write -P 5 1M 1M' -c 'write -P 7 6M 512k' base.qcow2 >/dev/null",
                "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 8M",
                "qemu-io -c 'write -P 6 3M 64k' -c 'write -z 5M 1M' -c 'discard 6M 64k' top.qcow2 >/dev/null",
                "qemu-img convert -c -O qcow2 base.qcow2 comp.qcow2",
                "truncate -s 4M holes.raw",
                "qemu-io -f raw -c 'write -P 9 1M 128k' holes.raw >/dev/null")).orFail();
        socket = dir.resolve("s.sock");
        List<ExportSpec> exports = List.of(
                new ExportSpec("chain", dir.resolve("top.qcow2").toString(), "qcow2", "", true),
                new ExportSpec("comp", dir.resolve("comp.qcow2").toString(), "qcow2", "", true),
                new ExportSpec("holes", dir.resolve("holes.raw").toString(), "raw", "", true));
        daemon = Daemon.start(new DaemonSettings(exports, false, "127.0.0.1", 0, socket, 16, true, null, false, null,
                Duration.ofSeconds(5)));
        tcpPort = daemon.nbd().tcpAddress().getPort();
    }

    @AfterAll
    static void stop() {
        if (daemon != null) {
            daemon.close();
        }
    }

    /** The export over the Unix socket ("unix:NAME") or over TCP ("tcp:NAME"). */
    private static String url(String where) {
        String[] w = where.split(":");
        return w[0].equals("tcp") ? "nbd://127.0.0.1:" + tcpPort + "/" + w[1]
                : "nbd+unix:///" + w[1] + "?socket=" + socket;
    }

    @ParameterizedTest
    @ValueSource(strings = {"unix:chain", "unix:comp", "unix:holes", "tcp:chain", "tcp:holes"})
    void infoMapAndCheckOverStratadMatchQemuImg(String export) {
        // Both tools failing to connect the same way would also be "the same": insist on a server.
        Tools.qemuImg("map", "--output=json", url(export)).orFail();
        Parity.assertSameAsQemu("info", url(export));
        Parity.assertSameAsQemu("info", "--output=json", url(export));
        Parity.assertSameAsQemu("map", "--output=json", url(export));
        Parity.assertSameAsQemu("map", url(export));
        Parity.assertSameAsQemu("check", url(export));
    }

    @ParameterizedTest
    @ValueSource(strings = {"unix:chain:top.qcow2", "unix:comp:comp.qcow2", "unix:holes:holes.raw",
        "unix:chain:base.qcow2", "tcp:chain:top.qcow2", "tcp:holes:holes.raw"})
    void exportsCompareWithTheirFilesAsInQemuImg(String triple) {
        String[] p = triple.split(":");
        String export = url(p[0] + ":" + p[1]);
        String file = dir.resolve(p[2]).toString();
        Tools.qemuImg("info", export).orFail();
        Parity.assertSameAsQemu("compare", export, file);
        Parity.assertSameAsQemu("compare", "-s", export, file);
    }
}
