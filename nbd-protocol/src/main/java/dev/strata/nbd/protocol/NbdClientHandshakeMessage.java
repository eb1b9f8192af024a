package dev.strata.nbd.protocol;

/**
 * What a client sends during the handshake: its flags word once, then options.
 * {@link NbdHandshakeDecoder} produces these on the server; {@link NbdOptionEncoder} writes
 * them on the client.
 */
public sealed interface NbdClientHandshakeMessage permits NbdClientFlags, NbdOption {
}
