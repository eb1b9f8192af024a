package dev.strata.daemon;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How the command line resolves into settings: defaults, listeners, exports. */
class StratadCommandTest {
    private static DaemonSettings settings(String... args) {
        StratadCommand cmd = new StratadCommand();
        new CommandLine(cmd).parseArgs(args);
        return Stratad.settingsOf(cmd);
    }

    @Test
    void defaultsAreLoopbackPort10809OneClientNotPersistent() {
        DaemonSettings s = settings("-r", "a.qcow2");
        assertEquals("127.0.0.1", s.tcpBind());
        assertEquals(10809, s.tcpPort());
        assertNull(s.unixSocket());
        assertEquals(1, s.maxClients());
        assertEquals(false, s.persistent());
        assertEquals("", s.exports().get(0).name());
    }

    @Test
    void socketAloneMeansNoTcp() {
        DaemonSettings s = settings("-r", "-k", "/tmp/x.sock", "a.qcow2");
        assertNull(s.tcpBind());
        assertEquals(Path.of("/tmp/x.sock"), s.unixSocket());
        DaemonSettings both = settings("-r", "-k", "/tmp/x.sock", "-p", "10810", "a.qcow2");
        assertEquals("127.0.0.1", both.tcpBind());
        assertEquals(10810, both.tcpPort());
    }

    @Test
    void fuseAloneMeansNoNbd() {
        DaemonSettings s = settings("-r", "--fuse", "/mnt", "a.qcow2");
        assertTrue(!s.servesNbd());
        DaemonSettings both = settings("-r", "--fuse", "/mnt", "-b", "0.0.0.0", "a.qcow2");
        assertEquals("0.0.0.0", both.tcpBind());
    }

    @Test
    void qemuNbdShortOptionsKeepTheirMeaning() {
        DaemonSettings s = settings("-r", "-t", "-e", "4", "-x", "disk", "-D", "desc", "-f", "qcow2", "-A", "-U", "a.qcow2",
                "--export", "name=b,file=b.raw");
        assertTrue(s.persistent() && s.forceShare());
        assertEquals(4, s.maxClients());
        assertEquals("disk", s.exports().get(0).name());
        assertEquals("desc", s.exports().get(0).description());
        assertEquals("qcow2", s.exports().get(0).format());
        assertTrue(s.exports().get(0).allocationDepth());
        assertEquals("b", s.exports().get(1).name());
        assertTrue(s.exports().get(1).allocationDepth());
    }

    @Test
    void refusesWhatCannotWork() {
        assertThrows(DaemonException.class, () -> settings("a.qcow2"));
        assertThrows(DaemonException.class, () -> settings("-r"));
        assertThrows(DaemonException.class, () -> settings("-r", "-e", "0", "a"));
        assertThrows(DaemonException.class, () -> settings("-r", "-p", "70000", "a"));
        assertThrows(DaemonException.class, () -> settings("-r", "--fuse-allow-other", "a"));
    }
}
