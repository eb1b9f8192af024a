package dev.strata.daemon;

import dev.strata.daemon.export.ExportSpec;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Everything a {@link Daemon} needs, resolved from the command line (or built by tests).
 *
 * @param exports          the exports, in order
 * @param forceShare       qemu's {@code -U}
 * @param tcpBind          address of the TCP listener, or null for none
 * @param tcpPort          its port (0: any free port, tests)
 * @param unixSocket       path of the Unix-socket listener, or null for none
 * @param maxClients       {@code -e}: connections beyond this are refused
 * @param persistent       {@code -t}: keep running when the last client leaves
 * @param fuseMountPoint   {@code --fuse}, or null
 * @param fuseAllowOther   {@code --fuse-allow-other}
 * @param pidFile          {@code --pid-file}, or null
 * @param handshakeTimeout how long a client may take to finish the handshake
 */
public record DaemonSettings(List<ExportSpec> exports, boolean forceShare, String tcpBind, int tcpPort,
                             Path unixSocket, int maxClients, boolean persistent, Path fuseMountPoint,
                             boolean fuseAllowOther, Path pidFile, Duration handshakeTimeout) {

    /** Default NBD port. */
    public static final int DEFAULT_PORT = 10809;
    /** Default handshake timeout (qemu-nbd uses 10 s). */
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

    public DaemonSettings {
        exports = List.copyOf(exports);
    }

    /** Whether any NBD listener is configured. */
    public boolean servesNbd() {
        return tcpBind != null || unixSocket != null;
    }
}
