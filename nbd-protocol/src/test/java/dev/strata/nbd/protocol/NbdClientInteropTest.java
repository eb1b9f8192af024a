package dev.strata.nbd.protocol;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static dev.strata.nbd.protocol.NbdConstants.*;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link NbdClient} against the real servers, over Unix sockets only: {@code qemu-nbd} serving a
 * sparse raw file and {@code nbdkit memory}. Outside CI the tests are skipped when a tool is
 * missing; in CI (environment variable {@code CI} set) a missing tool is a failure.
 */
class NbdClientInteropTest {
    private static final Duration LIMIT = Duration.ofSeconds(20);
    private static final NbdClientOptions OPTIONS = NbdClientOptions.defaults().withTimeout(Duration.ofSeconds(5));

    @TempDir
    Path dir;
    private final List<Process> servers = new ArrayList<>();

    @AfterEach
    void stopServers() throws InterruptedException {
        for (Process p : servers) {
            p.destroy();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    private static void requireTool(String name) {
        boolean found = Arrays.stream(System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":"))
                .anyMatch(d -> Files.isExecutable(Path.of(d, name)));
        assumeTrue(found || System.getenv("CI") != null, name + " is not installed");
    }

    /** Starts a server and waits until its Unix socket exists. */
    private UnixDomainSocketAddress start(Path socket, String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("server.log").toFile()).start();
        servers.add(p);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(socket)) {
            if (!p.isAlive()) {
                fail(command[0] + " exited with " + p.exitValue() + ": " + Files.readString(dir.resolve("server.log")));
            }
            if (System.nanoTime() > deadline) {
                fail(command[0] + " did not create " + socket);
            }
            Thread.sleep(20);
        }
        return UnixDomainSocketAddress.of(socket);
    }

    /** 4 MiB sparse raw file: 64 KiB of data at 0, 4 KiB at 1 MiB, holes elsewhere. */
    private byte[] sparseImage(Path file) throws IOException {
        byte[] content = new byte[4 << 20];
        Random random = new Random(42);
        byte[] a = new byte[65536];
        byte[] b = new byte[4096];
        random.nextBytes(a);
        random.nextBytes(b);
        System.arraycopy(a, 0, content, 0, a.length);
        System.arraycopy(b, 0, content, 1 << 20, b.length);
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(content.length);
            raf.write(a);
            raf.seek(1 << 20);
            raf.write(b);
        }
        return content;
    }

    @Test
    void epollTransportIsAvailableOnLinuxX8664() {
        assumeTrue(System.getProperty("os.name").equals("Linux") && System.getProperty("os.arch").equals("amd64"));
        assertTrue(NbdTransport.epollAvailable(), "netty-transport-native-epoll should load here");
    }

    @Test
    void readsAndBlockStatusFromQemuNbdMatchTheFile() {
        requireTool("qemu-nbd");
        assertTimeoutPreemptively(LIMIT, () -> {
            Path file = dir.resolve("disk.raw");
            byte[] content = sparseImage(file);
            Path socket = dir.resolve("qemu.sock");
            UnixDomainSocketAddress address = start(socket, "qemu-nbd", "-r", "-f", "raw", "-A", "-t",
                    "-x", "disk", "-k", socket.toString(), file.toString());

            assertEquals(List.of("disk"), NbdClient.listExports(address, OPTIONS).stream()
                    .map(NbdOptionReply.Server::exportName).toList());
            assertTrue(NbdClient.listMetaContexts(address, "disk", List.of(), OPTIONS)
                    .containsAll(List.of(CONTEXT_BASE_ALLOCATION, CONTEXT_QEMU_ALLOCATION_DEPTH)));

            NbdClientOptions options = OPTIONS.withMetaContexts(
                    List.of(CONTEXT_BASE_ALLOCATION, CONTEXT_QEMU_ALLOCATION_DEPTH));
            try (NbdClient client = NbdClient.connect(address, "disk", options)) {
                NbdExportInfo export = client.export();
                assertEquals(content.length, client.size());
                assertTrue(export.readOnly());
                assertTrue(export.structuredReplies());
                assertNotNull(export.blockSize());
                assertEquals(2, export.metaContexts().size());

                assertArrayEquals(content, client.read(0, content.length));
                assertArrayEquals(Arrays.copyOfRange(content, 65000, 1049000), client.read(65000, 1049000 - 65000));

                List<NbdExtent> allocation = walk(client, CONTEXT_BASE_ALLOCATION);
                long at = 0;
                for (NbdExtent e : allocation) {
                    boolean zero = (e.flags() & STATE_ZERO) != 0;
                    if (zero) {
                        assertTrue(MiniNbdServer.isZero(content, (int) at, (int) e.length()),
                                "extent at " + at + " claims zero");
                    }
                    at += e.length();
                }
                assertEquals(content.length, at);
                assertEquals(0, allocation.get(0).flags(), "written data is neither hole nor zero");
                assertTrue(allocation.stream().anyMatch(e -> e.flags() == (STATE_HOLE | STATE_ZERO)),
                        "the sparse tail shows as hole+zero: " + allocation);
                Map<String, List<NbdExtent>> one = client.blockStatus(0, content.length, true);
                assertEquals(1, one.get(CONTEXT_BASE_ALLOCATION).size());

                List<NbdExtent> depth = walk(client, CONTEXT_QEMU_ALLOCATION_DEPTH);
                assertEquals(content.length, depth.stream().mapToLong(NbdExtent::length).sum());
                assertEquals(1, depth.get(0).flags(), "the raw layer itself provides the data");
            }

            try (NbdClient simple = NbdClient.connect(address, "disk", OPTIONS.withStructuredReplies(false))) {
                assertFalse(simple.export().structuredReplies());
                assertArrayEquals(Arrays.copyOfRange(content, 1 << 20, (1 << 20) + 8192),
                        simple.read(1 << 20, 8192));
            }

            NbdOptionException e = assertThrows(NbdOptionException.class,
                    () -> NbdClient.connect(address, "nope", OPTIONS));
            assertEquals(REP_ERR_UNKNOWN, e.replyType());
        });
    }

    /** Block status over the whole export, following the server's possibly short replies. */
    private static List<NbdExtent> walk(NbdClient client, String context) throws NbdException {
        List<NbdExtent> extents = new ArrayList<>();
        long at = 0;
        while (at < client.size()) {
            List<NbdExtent> part = client.blockStatus(at, client.size() - at).get(context);
            for (NbdExtent e : part) {
                long length = Math.min(e.length(), client.size() - at);
                extents.add(new NbdExtent(length, e.flags()));
                at += length;
                if (at >= client.size()) {
                    break;
                }
            }
        }
        return extents;
    }

    @Test
    void writeReadFlushAndZeroAgainstNbdkitMemory() {
        requireTool("nbdkit");
        assertTimeoutPreemptively(LIMIT, () -> {
            Path socket = dir.resolve("nbdkit.sock");
            UnixDomainSocketAddress address = start(socket, "nbdkit", "-f", "--exit-with-parent",
                    "-U", socket.toString(), "memory", "1M");
            try (NbdClient client = NbdClient.connect(NbdUri.parse("nbd+unix:///?socket=" + socket), OPTIONS)) {
                assertEquals(1 << 20, client.size());
                assertEquals(List.of(new NbdExtent(1 << 20, STATE_HOLE | STATE_ZERO)),
                        walk(client, CONTEXT_BASE_ALLOCATION));
                byte[] block = new byte[8192];
                new Random(5).nextBytes(block);
                client.write(65536, ByteBuffer.wrap(block), false);
                client.flush();
                assertArrayEquals(block, client.read(65536, block.length));
                List<NbdExtent> status = walk(client, CONTEXT_BASE_ALLOCATION);
                assertEquals(new NbdExtent(65536, STATE_HOLE | STATE_ZERO), status.get(0));
                assertEquals(0, status.get(1).flags());
                client.writeZeroes(65536, 4096, 0);
                byte[] expected = block.clone();
                Arrays.fill(expected, 0, 4096, (byte) 0);
                assertArrayEquals(expected, client.read(65536, block.length));
                client.trim(69632, 4096);
                assertArrayEquals(new byte[8192], client.read(65536, 8192));
                assertArrayEquals(new byte[1 << 20], client.read(0, 1 << 20));
            }

            // And simple replies from a real server that cannot do structured ones.
            Path plain = dir.resolve("plain.sock");
            UnixDomainSocketAddress plainAddress = start(plain, "nbdkit", "-f", "--exit-with-parent", "--no-sr",
                    "-U", plain.toString(), "memory", "64K");
            try (NbdClient client = NbdClient.connect(plainAddress, "", OPTIONS)) {
                assertFalse(client.export().structuredReplies());
                client.write(100, ByteBuffer.wrap(new byte[] {1, 2, 3}), true);
                assertArrayEquals(new byte[] {0, 1, 2, 3, 0}, client.read(99, 5));
            }
            assertNotNull(address);
        });
    }
}
