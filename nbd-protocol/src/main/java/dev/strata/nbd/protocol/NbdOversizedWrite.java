package dev.strata.nbd.protocol;

/**
 * Decoder event: an {@code NBD_CMD_WRITE} header announced more data than the decoder's
 * maximum payload. The decoder does not buffer that data: it discards it as it arrives and
 * then continues with the next request, so the server can answer this cookie with an error
 * ({@code NBD_EOVERFLOW}, or {@code NBD_EINVAL}) and keep the connection.
 *
 * @param length the announced (unsigned 32-bit) payload length
 */
public record NbdOversizedWrite(int flags, long cookie, long offset, long length) {
}
