package dev.strata.nbd.protocol;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static dev.strata.nbd.protocol.NbdConstants.*;
import static org.junit.jupiter.api.Assertions.*;

/** {@link NbdClient} against {@link MiniNbdServer} over loopback TCP and a Unix socket. */
class NbdClientLoopbackTest {
    private static final Duration LIMIT = Duration.ofSeconds(15);
    private static final NbdClientOptions OPTIONS = NbdClientOptions.defaults().withTimeout(Duration.ofSeconds(3));

    @TempDir
    Path dir;
    private MiniNbdServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
    }

    /** 64 KiB: data, zero block, two data blocks, zeroes. */
    private static byte[] image() {
        byte[] data = new byte[64 * 1024];
        Random random = new Random(7);
        byte[] block = new byte[4096];
        random.nextBytes(block);
        System.arraycopy(block, 0, data, 0, 4096);
        random.nextBytes(block);
        System.arraycopy(block, 0, data, 8192, 4096);
        random.nextBytes(block);
        System.arraycopy(block, 0, data, 12288, 4096);
        data[12288] = 0; // still data: only one byte zero
        return data;
    }

    @Test
    void tcpReadWriteBlockStatusFlush() {
        assertTimeoutPreemptively(LIMIT, () -> {
            byte[] data = image();
            byte[] expected = data.clone();
            server = new MiniNbdServer(new MiniNbdServer.Export("disk", data, null, 0));
            InetSocketAddress address = server.startTcp();
            try (NbdClient client = NbdClient.connect(NbdUri.tcp("127.0.0.1", address.getPort(), "disk"), OPTIONS)) {
                NbdExportInfo export = client.export();
                assertEquals(65536, client.size());
                assertEquals(new NbdInfo.BlockSize(1, 4096, 1 << 20), export.blockSize());
                assertTrue(export.structuredReplies());
                assertEquals(Map.of(10, CONTEXT_BASE_ALLOCATION), export.metaContexts());
                assertTrue(export.hasFlag(FLAG_SEND_FLUSH));
                assertFalse(export.readOnly());

                assertArrayEquals(expected, client.read(0, 65536));
                assertArrayEquals(Arrays.copyOfRange(expected, 100, 5100), client.read(100, 5000));
                assertArrayEquals(new byte[0], client.read(10, 0));

                assertEquals(Map.of(CONTEXT_BASE_ALLOCATION, List.of(
                        new NbdExtent(4096, 0), new NbdExtent(4096, STATE_HOLE | STATE_ZERO),
                        new NbdExtent(8192, 0), new NbdExtent(65536 - 16384, STATE_HOLE | STATE_ZERO))),
                        client.blockStatus(0, 65536));

                byte[] patch = "written over NBD".getBytes();
                client.write(4100, ByteBuffer.wrap(patch), true);
                System.arraycopy(patch, 0, expected, 4100, patch.length);
                client.flush();
                assertArrayEquals(expected, client.read(0, 65536));
                client.writeZeroes(0, 4096, CMD_FLAG_NO_HOLE);
                client.trim(8192, 4096);
                Arrays.fill(expected, 0, 4096, (byte) 0);
                Arrays.fill(expected, 8192, 12288, (byte) 0);
                assertArrayEquals(expected, client.read(0, 65536));

                assertThrows(IllegalArgumentException.class, () -> client.read(65000, 1000));
                client.disconnect();
                assertFalse(client.isOpen());
                assertThrows(NbdException.class, () -> client.read(0, 1));
            }
        });
    }

    @Test
    void unixSocketWithBothContextsAndReqOne() {
        assertTimeoutPreemptively(LIMIT, () -> {
            byte[] data = image();
            server = new MiniNbdServer(new MiniNbdServer.Export("", data, null, FLAG_READ_ONLY));
            SocketAddress address = server.startUnix(dir.resolve("nbd.sock"));
            NbdClientOptions options = OPTIONS.withMetaContexts(List.of(CONTEXT_QEMU_ALLOCATION_DEPTH,
                    CONTEXT_BASE_ALLOCATION, "x-nobody:nothing"));
            NbdUri uri = NbdUri.parse("nbd+unix:///?socket=" + dir.resolve("nbd.sock"));
            try (NbdClient client = NbdClient.connect(uri, options)) {
                assertTrue(client.export().readOnly());
                assertEquals(List.of(CONTEXT_QEMU_ALLOCATION_DEPTH, CONTEXT_BASE_ALLOCATION),
                        List.copyOf(client.export().metaContexts().values()));
                assertArrayEquals(data, client.read(0, data.length));
                Map<String, List<NbdExtent>> status = client.blockStatus(4096, 8192, true);
                assertEquals(List.of(new NbdExtent(4096, 0)), status.get(CONTEXT_QEMU_ALLOCATION_DEPTH));
                assertEquals(List.of(new NbdExtent(4096, STATE_HOLE | STATE_ZERO)), status.get(CONTEXT_BASE_ALLOCATION));
                status = client.blockStatus(0, 16384);
                assertEquals(List.of(new NbdExtent(4096, 1), new NbdExtent(4096, 0), new NbdExtent(8192, 1)),
                        status.get(CONTEXT_QEMU_ALLOCATION_DEPTH));
            }
            assertNotNull(address);
        });
    }

    @Test
    void simpleRepliesWhenStructuredRepliesAreNotAskedFor() {
        assertTimeoutPreemptively(LIMIT, () -> {
            byte[] data = image();
            server = new MiniNbdServer(new MiniNbdServer.Export("disk", data, null, 0));
            InetSocketAddress address = server.startTcp();
            try (NbdClient client = NbdClient.connect(address, "disk", OPTIONS.withStructuredReplies(false))) {
                assertFalse(client.export().structuredReplies());
                assertTrue(client.export().metaContexts().isEmpty());
                assertArrayEquals(data, client.read(0, data.length));
                assertArrayEquals(Arrays.copyOfRange(data, 3, 9), client.read(3, 6));
                NbdException e = assertThrows(NbdException.class, () -> client.blockStatus(0, 4096));
                assertTrue(e.getMessage().contains("no metadata context"), e.getMessage());
            }
        });
    }

    @Test
    void zeroCopyFileRegionReadsAndLargeSplitReads() {
        assertTimeoutPreemptively(LIMIT, () -> {
            byte[] data = new byte[3 * (1 << 20) + 512];
            new Random(3).nextBytes(data);
            Arrays.fill(data, 8192, 3 * 4096, (byte) 0);
            Path file = dir.resolve("image.raw");
            Files.write(file, data);
            server = new MiniNbdServer(new MiniNbdServer.Export("file", data, file, 0));
            InetSocketAddress address = server.startTcp();
            try (NbdClient client = NbdClient.connect(address, "file", OPTIONS)) {
                assertEquals(1 << 20, client.export().maximumPayload());
                ByteBuffer direct = ByteBuffer.allocateDirect(data.length);
                client.read(0, direct); // four pipelined requests of at most 1 MiB
                assertFalse(direct.hasRemaining());
                direct.flip();
                byte[] got = new byte[data.length];
                direct.get(got);
                assertArrayEquals(data, got);
            }
        });
    }

    @Test
    void serverErrorsFailTheRequestButKeepTheConnection() {
        assertTimeoutPreemptively(LIMIT, () -> {
            for (boolean structured : new boolean[] {true, false}) {
                byte[] data = image();
                server = new MiniNbdServer(new MiniNbdServer.Export("disk", data, null, 0));
                server.poisonOffset = 5000;
                InetSocketAddress address = server.startTcp();
                try (NbdClient client = NbdClient.connect(address, "disk", OPTIONS.withStructuredReplies(structured))) {
                    NbdCommandException e = assertThrows(NbdCommandException.class, () -> client.read(4096, 4096));
                    assertEquals(EIO, e.errno());
                    assertEquals(CMD_READ, e.command());
                    assertEquals(structured ? "poisoned sector" : "", e.serverMessage());
                    assertTrue(e.getMessage().startsWith("NBD_CMD_READ failed: EIO"), e.getMessage());
                    assertArrayEquals(Arrays.copyOf(data, 4096), client.read(0, 4096));
                    assertTrue(client.isOpen());
                }
                server.close();
                server = null;
            }
        });
    }

    @Test
    void unknownExportIsAnOptionError() {
        assertTimeoutPreemptively(LIMIT, () -> {
            server = new MiniNbdServer(new MiniNbdServer.Export("disk", new byte[4096], null, 0));
            InetSocketAddress address = server.startTcp();
            NbdOptionException e = assertThrows(NbdOptionException.class,
                    () -> NbdClient.connect(address, "missing", OPTIONS));
            assertEquals(REP_ERR_UNKNOWN, e.replyType());
            assertEquals(OPT_GO, e.option());
            assertEquals("no export missing", e.serverMessage());
        });
    }

    @Test
    void fallsBackToExportNameWhenGoIsUnsupported() {
        assertTimeoutPreemptively(LIMIT, () -> {
            byte[] data = image();
            server = new MiniNbdServer(new MiniNbdServer.Export("old", data, null, 0));
            server.supportGo = false;
            InetSocketAddress address = server.startTcp();
            try (NbdClient client = NbdClient.connect(address, "old", OPTIONS)) {
                assertNull(client.export().blockSize());
                assertEquals(data.length, client.size());
                assertArrayEquals(data, client.read(0, data.length));
                assertEquals(CONTEXT_BASE_ALLOCATION, client.blockStatus(0, 4096).keySet().iterator().next());
            }
        });
    }

    @Test
    void listsExportsAndMetaContexts() {
        assertTimeoutPreemptively(LIMIT, () -> {
            server = new MiniNbdServer(new MiniNbdServer.Export("a", new byte[512], null, 0),
                    new MiniNbdServer.Export("b", new byte[512], null, 0));
            InetSocketAddress address = server.startTcp();
            List<NbdOptionReply.Server> exports = NbdClient.listExports(address, OPTIONS);
            assertEquals(List.of("a", "b"), exports.stream().map(NbdOptionReply.Server::exportName).toList());
            assertEquals("test export a", exports.get(0).description());
            assertEquals(List.of(CONTEXT_BASE_ALLOCATION, CONTEXT_QEMU_ALLOCATION_DEPTH),
                    NbdClient.listMetaContexts(address, "a", List.of(), OPTIONS));
            assertEquals(List.of(CONTEXT_QEMU_ALLOCATION_DEPTH),
                    NbdClient.listMetaContexts(address, "a", List.of("qemu:"), OPTIONS));
        });
    }

    @Test
    void concurrentCallersShareOneConnection() {
        assertTimeoutPreemptively(LIMIT, () -> {
            byte[] data = new byte[256 * 1024];
            new Random(11).nextBytes(data);
            server = new MiniNbdServer(new MiniNbdServer.Export("disk", data, null, 0));
            InetSocketAddress address = server.startTcp();
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try (NbdClient client = NbdClient.connect(address, "disk", OPTIONS)) {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    int seed = t;
                    futures.add(pool.submit(() -> {
                        Random random = new Random(seed);
                        for (int i = 0; i < 50; i++) {
                            int offset = random.nextInt(data.length - 10000);
                            int length = 1 + random.nextInt(10000);
                            assertArrayEquals(Arrays.copyOfRange(data, offset, offset + length),
                                    client.read(offset, length));
                        }
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
        });
    }

    @Test
    void garbageFromTheServerIsAProtocolErrorNotAHang() {
        assertTimeoutPreemptively(LIMIT, () -> {
            server = new MiniNbdServer(new MiniNbdServer.Export("disk", new byte[4096], null, 0));
            server.garbageReplies = true;
            InetSocketAddress address = server.startTcp();
            try (NbdClient client = NbdClient.connect(address, "disk", OPTIONS)) {
                NbdException e = assertThrows(NbdException.class, () -> client.read(0, 512));
                assertTrue(e.getMessage().contains("protocol error"), e.getMessage());
                assertFalse(client.isOpen());
                assertThrows(NbdException.class, () -> client.read(0, 512));
            }
        });
    }

    @Test
    void silentServerTimesOutAndRefusedConnectionFails() {
        assertTimeoutPreemptively(LIMIT, () -> {
            try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                Thread acceptor = new Thread(() -> {
                    try (Socket ignored = silent.accept()) {
                        Thread.sleep(5000);
                    } catch (Exception ignored) {
                        // test over
                    }
                });
                acceptor.setDaemon(true);
                acceptor.start();
                NbdClientOptions quick = OPTIONS.withTimeout(Duration.ofMillis(500));
                NbdException e = assertThrows(NbdException.class, () -> NbdClient.connect(
                        new InetSocketAddress(InetAddress.getLoopbackAddress(), silent.getLocalPort()), "", quick));
                assertTrue(e.getMessage().contains("timed out"), e.getMessage());
            }
            int freePort;
            try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                freePort = probe.getLocalPort();
            }
            assertThrows(NbdException.class, () -> NbdClient.connect(
                    new InetSocketAddress(InetAddress.getLoopbackAddress(), freePort), "", OPTIONS));
            assertThrows(NbdException.class, () -> NbdClient.connect(NbdUri.parse("nbds://127.0.0.1/x"), OPTIONS));
        });
    }
}
