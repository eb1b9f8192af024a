package dev.strata.nbd.protocol;

/**
 * What a server sends during the handshake: the greeting, option replies, and the legacy
 * {@code NBD_OPT_EXPORT_NAME} reply. {@link NbdHandshakeEncoder} writes these on the server;
 * {@link NbdHandshakeReplyDecoder} produces them on the client.
 */
public sealed interface NbdServerHandshakeMessage permits NbdServerGreeting, NbdOptionReply, NbdExportNameReply {
}
