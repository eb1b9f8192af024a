package dev.strata.daemon.nbd;

import dev.strata.daemon.ServerFixture;
import dev.strata.daemon.TestImages;
import dev.strata.daemon.Tools;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile and careless clients, through nbdsh (libnbd in non-strict mode) and raw sockets in the
 * same Python script: each gets the error or the disconnect the spec asks for, and the server
 * keeps serving the others.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NbdBadInputTest {
    @TempDir
    static Path dir;
    static ServerFixture server;

    @BeforeAll
    static void start() {
        Tools.require("qemu-img", "qemu-io", "nbdsh");
        server = new ServerFixture(TestImages.create(dir));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    @Test
    void eachBadInputGetsTheRightAnswerAndTheServerGoesOn() throws IOException {
        Path script = dir.resolve("bad_input.py");
        try (InputStream in = NbdBadInputTest.class.getResourceAsStream("bad_input.py")) {
            Files.copy(in, script);
        }
        Tools.Result r = Tools.run(dir, Map.of("SOCK", server.socket.toString()),
                "nbdsh", "-c", "exec(open('" + script + "').read())");
        String expected = String.join("\n",
                "read past end: EINVAL",
                "read at end: EINVAL",
                "oversized read: EINVAL",
                "oversized read DF: EOVERFLOW",
                "write on read-only: EPERM",
                "write zeroes on read-only: EPERM",
                "trim on read-only: EPERM",
                "block status past end: EINVAL",
                "still serving: ok",
                "structured read over data and hole: data hole",
                "structured read with DF: data",
                "simple reply read: ok",
                "simple reply past end: EINVAL",
                "unknown option: 0x80000001",
                "starttls: 0x80000002",
                "too-long option: 0x80000009",
                "list after refusals: 3 exports",
                "abort: 0x1 closed",
                "bad option magic: closed",
                "unknown command: error 22 cookie 7",
                "read after unknown command: error 0 cookie 8 data 16",
                "bad request magic: closed",
                "served while another stalls: ok",
                "stalled handshake: closed",
                "still serving at the end: ok") + "\n";
        assertEquals(expected, r.stdout(), "stderr:\n" + r.stderr());
        assertEquals(0, r.exitCode(), r.stderr());
        assertTrue(server.daemon.nbd().clientCount() <= 1, "connections left open: " + server.daemon.nbd().clientCount());
    }
}
