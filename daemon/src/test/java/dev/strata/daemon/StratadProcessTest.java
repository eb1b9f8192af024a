package dev.strata.daemon;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * stratad as a process (a JVM running {@link Stratad#main} on the test class path): exit codes and
 * one-line errors, SIGTERM, qemu-nbd's exit after the last client, the {@code -e} limit,
 * {@code --fork} with {@code --pid-file}, and the stale FUSE mount left by SIGKILL.
 * Every wait is bounded; nothing asserts on time.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class StratadProcessTest {
    @TempDir
    static Path dir;
    static TestImages images;

    @BeforeAll
    static void images() {
        images = TestImages.create(dir);
    }

    private static List<String> javaCommand(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-XX:TieredStopAtLevel=1");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Stratad.class.getName());
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static Process start(Path err, String... args) throws IOException {
        return new ProcessBuilder(javaCommand(args)).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(err.toFile()).start();
    }

    private static int exit(Process p) throws InterruptedException {
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("stratad did not exit");
        }
        return p.exitValue();
    }

    private static void awaitFile(Path f, Process p) throws InterruptedException {
        for (int i = 0; i < 3000 && !Files.exists(f); i++) {
            if (p != null && !p.isAlive()) {
                throw new AssertionError("stratad exited early with " + p.exitValue());
            }
            Thread.sleep(10);
        }
        assertTrue(Files.exists(f), f + " never appeared");
    }

    private static String read(Path f) throws IOException {
        return Files.readString(f, StandardCharsets.UTF_8);
    }

    @Test
    void withoutReadOnlyItSaysWritableExportsDoNotExistYet() throws Exception {
        Path err = dir.resolve("rw.err");
        assertEquals(1, exit(start(err, images.top.toString())));
        assertEquals("stratad: writable exports are not available yet; add -r (--read-only) to serve read-only\n", read(err));
    }

    @Test
    void aMissingImageIsOneLineAndExitOne() throws Exception {
        Path err = dir.resolve("missing.err");
        assertEquals(1, exit(start(err, "-r", "-k", dir.resolve("m.sock").toString(), "nope.qcow2")));
        String text = read(err);
        assertEquals(1, text.lines().count(), text);
        // the same line qemu-nbd prints for the same image name
        Path qemuErr = dir.resolve("missing.qemu.err");
        Process qemu = new ProcessBuilder("qemu-nbd", "-r", "-k", dir.resolve("q.sock").toString(), "nope.qcow2")
                .directory(dir.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(qemuErr.toFile()).start();
        assertEquals(1, exit(qemu));
        assertEquals(read(qemuErr).replace("qemu-nbd: ", "stratad: "), text);
    }

    @Test
    void aStaleBitmapsImageGetsQemuNbdsWarning() throws Exception {
        Tools.require("qemu-nbd");
        Path img = dir.resolve("stale.qcow2");
        Tools.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "64M").ok();
        Tools.run(dir, "qemu-img", "bitmap", "--add", img.toString(), "b0").ok();
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            // autoclear_features (offset 88) without the bitmaps bit, as a program without
            // bitmap support leaves a v3 image
            ch.write(ByteBuffer.allocate(8), 88);
        }
        byte[] before = Files.readAllBytes(img);
        Path qemuErr = dir.resolve("stale.qemu.err");
        Path qemuSock = dir.resolve("stale-q.sock");
        Process qemu = new ProcessBuilder("qemu-nbd", "-r", "-k", qemuSock.toString(), "-f", "qcow2", img.toString())
                .directory(dir.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(qemuErr.toFile()).start();
        awaitFile(qemuSock, qemu);
        qemu.destroy();
        exit(qemu);
        Path err = dir.resolve("stale.err");
        Path sock = dir.resolve("stale.sock");
        Process p = start(err, "-r", "-k", sock.toString(), "-f", "qcow2", img.toString());
        awaitFile(sock, p);
        p.destroy();
        assertEquals(0, exit(p), read(err));
        assertTrue(read(qemuErr).contains("warning: a program lacking bitmap support"), read(qemuErr));
        assertEquals(read(qemuErr).replace("qemu-nbd: ", "stratad: "), read(err));
        assertArrayEquals(before, Files.readAllBytes(img), "a read-only export changed its image");
    }

    @Test
    void anUnknownOptionPointsToHelp() throws Exception {
        Path err = dir.resolve("opt.err");
        assertEquals(1, exit(start(err, "-r", "--bogus", images.top.toString())));
        assertTrue(read(err).startsWith("stratad: Unknown option: '--bogus'\nTry 'stratad --help'"), read(err));
    }

    @Test
    void helpShowsTheUrl() {
        Tools.Result r = Tools.run(dir, javaCommand("--help").toArray(new String[0])).ok();
        assertTrue(r.stdout().contains("nbd://127.0.0.1:10809/"), r.stdout());
        assertTrue(r.stdout().contains("nbd+unix:///?socket=PATH"), r.stdout());
    }

    @Test
    void sigtermClosesAndExitsZero() throws Exception {
        Tools.require("nbdinfo");
        Path sock = dir.resolve("term.sock");
        Path err = dir.resolve("term.err");
        Process p = start(err, "-r", "-t", "-k", sock.toString(), images.top.toString());
        awaitFile(sock, p);
        Tools.run(dir, "nbdinfo", "--size", "nbd+unix:///?socket=" + sock).ok();
        p.destroy();
        assertEquals(0, exit(p), read(err));
        assertFalse(Files.exists(sock), "socket file left behind");
    }

    @Test
    void withoutPersistentItExitsAfterTheLastClient() throws Exception {
        Tools.require("nbdinfo");
        Path sock = dir.resolve("once.sock");
        Path err = dir.resolve("once.err");
        Process p = start(err, "-r", "-k", sock.toString(), images.top.toString());
        awaitFile(sock, p);
        Tools.run(dir, "nbdinfo", "--size", "nbd+unix:///?socket=" + sock).ok();
        assertEquals(0, exit(p), read(err));
    }

    @Test
    void sharedLimitRefusesTheClientBeyondIt() throws Exception {
        Path sock = dir.resolve("shared.sock");
        Path err = dir.resolve("shared.err");
        Process p = start(err, "-r", "-t", "-e", "1", "-k", sock.toString(), images.top.toString());
        try {
            awaitFile(sock, p);
            try (SocketChannel first = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                first.connect(UnixDomainSocketAddress.of(sock));
                assertEquals(18, readFully(first, 18), "first client gets the greeting");
                try (SocketChannel second = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                    second.connect(UnixDomainSocketAddress.of(sock));
                    assertEquals(-1, readFully(second, 18), "second client is closed without a greeting");
                }
            }
        } finally {
            p.destroy();
            exit(p);
        }
    }

    /** Reads up to n bytes; -1 if the peer closed before sending anything. */
    private static int readFully(SocketChannel ch, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                return b.position() == 0 ? -1 : b.position();
            }
        }
        return n;
    }

    @Test
    void forkReturnsOnceServingAndWritesThePidFile() throws Exception {
        Tools.require("nbdinfo");
        Path sock = dir.resolve("fork.sock");
        Path pid = dir.resolve("fork.pid");
        Path err = dir.resolve("fork.err");
        Process parent = start(err, "-r", "-t", "--fork", "--pid-file", pid.toString(), "-k", sock.toString(),
                images.top.toString());
        assertEquals(0, exit(parent), read(err));
        assertTrue(Files.exists(sock) && Files.exists(pid), "socket and pid file exist when the parent returns");
        long child = Long.parseLong(read(pid).trim());
        ProcessHandle h = ProcessHandle.of(child).orElseThrow(() -> new AssertionError("no process " + child));
        try {
            Tools.run(dir, "nbdinfo", "--size", "nbd+unix:///?socket=" + sock).ok();
        } finally {
            h.destroy();
            h.onExit().get(30, TimeUnit.SECONDS);
        }
        assertFalse(Files.exists(pid), "pid file removed on exit");
    }

    @Test
    void aStaleMountLeftBySigkillIsReportedWithTheCleanupCommand() throws Exception {
        assumeTrue(Files.exists(Path.of("/dev/fuse")) || "1".equals(System.getenv("STRATA_REQUIRE_TOOLS")),
                "/dev/fuse is missing: FUSE tests skipped");
        Tools.require("fusermount");
        Path mnt = Files.createDirectories(dir.resolve("stale-mnt"));
        Path err = dir.resolve("stale.err");
        Process p = start(err, "-r", "--fuse", mnt.toString(), images.top.toString());
        try {
            for (int i = 0; i < 3000 && !Files.exists(mnt.resolve("top.raw")); i++) {
                assertTrue(p.isAlive(), "stratad --fuse exited early");
                Thread.sleep(10);
            }
            p.destroyForcibly();
            exit(p);
            Path err2 = dir.resolve("stale2.err");
            assertEquals(1, exit(start(err2, "-r", "--fuse", mnt.toString(), images.top.toString())));
            String text = read(err2);
            assertTrue(text.contains("stale FUSE mount") && text.contains("fusermount -u " + mnt.toAbsolutePath()), text);
        } finally {
            Tools.run(dir, "fusermount", "-u", "-z", mnt.toString());
        }
        // Clean again: a normal start and SIGTERM unmount.
        Path err3 = dir.resolve("stale3.err");
        Process q = start(err3, "-r", "--fuse", mnt.toString(), images.top.toString());
        for (int i = 0; i < 3000 && !Files.exists(mnt.resolve("top.raw")); i++) {
            assertTrue(q.isAlive(), "stratad --fuse exited early: " + read(err3));
            Thread.sleep(10);
        }
        q.destroy();
        assertEquals(0, exit(q), read(err3));
        assertTrue(dev.strata.daemon.fuse.MountTableAccess.isMounted(mnt) == false, "unmounted on SIGTERM");
    }
}
