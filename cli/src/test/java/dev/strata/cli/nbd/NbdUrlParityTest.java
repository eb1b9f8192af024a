package dev.strata.cli.nbd;

import dev.strata.cli.RealQemu;
import dev.strata.cli.RealQemu.Run;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * strata-img on NBD URLs served by a real {@code qemu-nbd -r} (Unix socket and loopback TCP)
 * against real qemu-img on the same URLs: stdout, stderr and exit code must be equal.
 * Servers are killed in {@link #stopServers}; every qemu-img run is bounded by timeout(1).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class NbdUrlParityTest {
    @TempDir
    static Path dir;
    private static final List<Process> SERVERS = new ArrayList<>();
    private static String rawUnix;
    private static String chainTcp;
    private static String qcow2AsRaw;
    private static String overlayAsRaw;
    private static int tcpPort;

    @BeforeAll
    static void startServers() throws Exception {
        RealQemu.mustQemuImg(dir, "create", "-f", "raw", "holes.raw", "4M");
        RealQemu.mustQemuIo(dir, "-f", "raw", "-c", "write -P 1 0 64k", "-c", "write -P 2 1M 64k", "holes.raw");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "base.qcow2", "4M");
        RealQemu.mustQemuIo(dir, "-c", "write -P 3 0 128k", "base.qcow2");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
        RealQemu.mustQemuIo(dir, "-c", "write -P 4 64k 128k", "-c", "write -z 2M 64k", "top.qcow2");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "solo.qcow2", "4M");
        RealQemu.mustQemuIo(dir, "-c", "write -P 5 1M 192k", "-c", "write -z 3M 64k", "solo.qcow2");

        rawUnix = "nbd+unix:///holes?socket=" + serveUnix("holes.raw", "raw", "holes", "a.sock");
        tcpPort = freePort();
        serve(List.of("-f", "qcow2", "-x", "chain", "-p", Integer.toString(tcpPort), "-b", "127.0.0.1",
                dir.resolve("top.qcow2").toString()));
        awaitTcp(tcpPort);
        chainTcp = "nbd://127.0.0.1:" + tcpPort + "/chain";
        qcow2AsRaw = "nbd+unix:///solo?socket=" + serveUnix("solo.qcow2", "raw", "solo", "b.sock");
        overlayAsRaw = "nbd+unix:///top?socket=" + serveUnix("top.qcow2", "raw", "top", "c.sock");
    }

    @AfterAll
    static void stopServers() {
        for (Process p : SERVERS) {
            p.destroyForcibly();
        }
    }

    private static String serveUnix(String file, String format, String export, String socket) throws Exception {
        Path sock = dir.resolve(socket);
        serve(List.of("-f", format, "-x", export, "-k", sock.toString(), dir.resolve(file).toString()));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!Files.exists(sock)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("qemu-nbd did not create " + sock);
            }
            Thread.sleep(20);
        }
        return sock.toString();
    }

    private static void serve(List<String> args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("qemu-nbd", "-r", "-t", "-e", "8"));
        cmd.addAll(args);
        SERVERS.add(new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve("qemu-nbd-" + SERVERS.size() + ".log").toFile()).start());
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void awaitTcp(int port) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("qemu-nbd did not listen on port " + port);
                }
                Thread.sleep(20);
            }
        }
    }

    private static Run qemu(String... args) {
        List<String> all = new ArrayList<>(List.of("120", "qemu-img"));
        all.addAll(List.of(args));
        return RealQemu.tool(dir, "timeout", all);
    }

    private static void same(String... args) {
        assertEquals(qemu(args), RealQemu.strata(args), String.join(" ", args));
    }

    private void allVerbs(String url) {
        same("info", url);
        same("info", "--output=json", url);
        same("map", url);
        same("map", "--output=json", url);
        same("check", url);
    }

    @Test
    void rawFileWithHolesOverUnixSocket() {
        allVerbs(rawUnix);
    }

    @Test
    void qcow2ChainAsGuestViewOverTcp() {
        allVerbs(chainTcp);
        same("info", "nbd+tcp://127.0.0.1:" + tcpPort + "/ch%61in");
    }

    @Test
    void qcow2ServedRawIsProbedAsQcow2() {
        allVerbs(qcow2AsRaw);
    }

    @Test
    void overlayServedRawHasNoBaseDirectoryForItsBackingFile() {
        allVerbs(overlayAsRaw);
    }

    @Test
    void compareUrlWithFileAndUrlWithUrl() {
        same("compare", rawUnix, dir.resolve("holes.raw").toString());
        same("compare", chainTcp, dir.resolve("top.qcow2").toString());
        same("compare", chainTcp, rawUnix);
        same("compare", "-s", chainTcp, rawUnix);
        same("compare", qcow2AsRaw, dir.resolve("solo.qcow2").toString());
    }

    @Test
    void failuresInQemusWords() throws Exception {
        Path stale = Files.createFile(dir.resolve("stale.sock"));
        same("info", "nbd+unix:///x?socket=" + dir.resolve("missing.sock"));
        same("info", "nbd+unix:///x?socket=" + stale);
        same("map", "nbd+unix:///wrong?socket=" + dir.resolve("a.sock"));
        same("map", "nbd://127.0.0.1:" + tcpPort + "/wrong");
        same("info", "nbd://127.0.0.1:" + freePort() + "/x");
        same("info", "nbd:///x");
        same("info", "nbd+unix:///x");
        same("info", "nbd://127.0.0.1:" + tcpPort + "/x?socket=/s");
        same("info", "nbds://127.0.0.1/x");
    }
}
