package dev.strata.nbd.protocol;

import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.UnixDomainSocketAddress;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** NBD URI parsing per doc/uri.md, including its export-name table. */
class NbdUriTest {

    @Test
    void exportNameTableFromTheSpec() {
        assertEquals("disk", NbdUri.parse("nbd://example.com/disk").exportName());
        assertEquals("disk", NbdUri.parse("nbd+unix:///disk?socket=sock").exportName());
        assertEquals("", NbdUri.parse("nbd://example.com/").exportName());
        assertEquals("", NbdUri.parse("nbd://example.com").exportName());
        assertEquals("/disk", NbdUri.parse("nbd://example.com//disk").exportName());
        assertEquals("hello world", NbdUri.parse("nbd://example.com/hello%20world").exportName());
    }

    @Test
    void tcpHostsAndPorts() {
        NbdUri uri = NbdUri.parse("nbd://example.com:10810/disk");
        assertEquals(new NbdUri(false, "example.com", 10810, null, "disk", null, Map.of()), uri);
        assertEquals(10809, NbdUri.parse("nbd://example.com/disk").port());
        assertEquals(10809, NbdUri.parse("nbd://example.com:/disk").port());
        assertEquals("localhost", NbdUri.parse("nbd:///disk").host());
        NbdUri v6 = NbdUri.parse("nbd://[::1]:2000/x");
        assertEquals("::1", v6.host());
        assertEquals(2000, v6.port());
        assertEquals("::1", NbdUri.parse("nbd://[::1]").host());
        NbdUri user = NbdUri.parse("NBDS://alice@host/e");
        assertTrue(user.tls());
        assertEquals("alice", user.user());
        assertEquals("nbds", user.scheme());
        assertFalse(user.isUnix());
        InetSocketAddress address = (InetSocketAddress) NbdUri.parse("nbd://127.0.0.1:1234/").socketAddress();
        assertEquals("127.0.0.1", address.getHostString());
        assertEquals(1234, address.getPort());
        assertEquals("under_score.example", NbdUri.parse("nbd://under_score.example/x").host());
    }

    @Test
    void unixSockets() {
        NbdUri uri = NbdUri.parse("nbd+unix:///export?socket=/tmp/nbd.sock");
        assertTrue(uri.isUnix());
        assertFalse(uri.tls());
        assertEquals("/tmp/nbd.sock", uri.socketPath());
        assertEquals("export", uri.exportName());
        assertNull(uri.host());
        assertEquals(UnixDomainSocketAddress.of("/tmp/nbd.sock"), uri.socketAddress());
        assertEquals("", NbdUri.parse("nbd+unix://?socket=s").exportName());
        assertEquals("", NbdUri.parse("nbd+unix:?socket=s").exportName());
        assertEquals("/a b+c", NbdUri.parse("nbd+unix:///?socket=%2Fa%20b+c").socketPath());
        assertEquals("\0/abstract", NbdUri.parse("nbd+unix:///?socket=%00/abstract").socketPath());
        assertTrue(NbdUri.parse("nbds+unix:///e?socket=s&tls-type=x509").tls());
    }

    @Test
    void parametersAreKeptOrRejected() {
        NbdUri uri = NbdUri.parse("nbds://h/e?tls-hostname=srv&tls-verify-peer=0&x-foo=bar");
        assertEquals(Map.of("tls-hostname", "srv", "tls-verify-peer", "0", "x-foo", "bar"), uri.parameters());
        assertRejected("nbd://h/e?bogus=1");
        assertRejected("nbd://h/e?socket=/tmp/s");
        assertRejected("nbd+unix:///e");
        assertRejected("nbd+unix:///e?socket=");
        assertRejected("nbd+unix://host/e?socket=s");
        assertRejected("nbd+unix:///e?socket=a&socket=b");
        assertRejected("http://h/e");
        assertRejected("no-scheme");
        assertRejected("nbd://h:99999/e");
        assertRejected("nbd://h:12a/e");
        assertRejected("nbd://[::1/e");
        assertRejected("nbd://h/e%2");
        assertRejected("nbd://h/e%zz");
        assertRejected("nbd://h/e#frag");
    }

    private static void assertRejected(String uri) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NbdUri.parse(uri), uri);
        assertNotNull(e.getMessage());
    }

    @Test
    void unicodeAndRoundTrip() {
        NbdUri uri = NbdUri.parse("nbd://host/d%C3%A9j%C3%A0%20vu");
        assertEquals("déjà vu", uri.exportName());
        for (String text : new String[] {
                "nbd://host/d%C3%A9j%C3%A0%20vu", "nbd://[::1]:2000/x", "nbd+unix:///e?socket=/run/a%20b.sock",
                "nbds://alice@h:10/e?tls-hostname=srv", "nbd://example.com/", "nbd://example.com//disk"}) {
            NbdUri parsed = NbdUri.parse(text);
            assertEquals(parsed, NbdUri.parse(parsed.toString()), text);
        }
        assertEquals("nbd://example.com/disk", NbdUri.tcp("example.com", 10809, "disk").toString());
        assertEquals("nbd+unix:///disk?socket=/tmp/s", NbdUri.unix("/tmp/s", "disk").toString());
        assertEquals("nbd://[::1]:2000/x", NbdUri.parse("nbd://[::1]:2000/x").toString());
    }
}
