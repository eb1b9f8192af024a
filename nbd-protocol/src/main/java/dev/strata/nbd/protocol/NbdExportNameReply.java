package dev.strata.nbd.protocol;

/**
 * The reply to {@code NBD_OPT_EXPORT_NAME}: 64-bit size, 16-bit transmission flags, then
 * 124 zero bytes unless the client negotiated {@code NBD_FLAG_C_NO_ZEROES}. It has no magic
 * and no option header, so a client decoder must be told to expect it.
 *
 * @param zeroPadding true to send (or expect) the 124 zero bytes
 */
public record NbdExportNameReply(long size, int transmissionFlags, boolean zeroPadding)
        implements NbdServerHandshakeMessage {

    public NbdExportNameReply {
        NbdWire.checkU16(transmissionFlags, "transmission flags");
    }

    /** Wire size: 10 bytes, plus the padding if present. */
    public int wireLength() {
        return 10 + (zeroPadding ? NbdConstants.EXPORT_NAME_REPLY_PADDING : 0);
    }
}
