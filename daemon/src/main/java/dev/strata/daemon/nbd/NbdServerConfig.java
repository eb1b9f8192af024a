package dev.strata.daemon.nbd;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Listener and limit settings of an {@link NbdServer}.
 *
 * @param tcpBind          address of the TCP listener, or null for none
 * @param tcpPort          TCP port; 0 picks a free one (tests)
 * @param unixSocket       path of the Unix-socket listener, or null for none
 * @param maxClients       connections beyond this many are accepted and closed at once
 * @param handshakeTimeout a client that has not finished the handshake by then is disconnected
 */
public record NbdServerConfig(String tcpBind, int tcpPort, Path unixSocket, int maxClients, Duration handshakeTimeout) {
}
