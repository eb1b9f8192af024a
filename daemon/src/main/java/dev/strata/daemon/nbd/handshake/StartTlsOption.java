package dev.strata.daemon.nbd.handshake;

import dev.strata.nbd.protocol.NbdOption;
import dev.strata.nbd.protocol.NbdOptionReply;

import static dev.strata.nbd.protocol.NbdConstants.REP_ERR_POLICY;

/**
 * {@code NBD_OPT_STARTTLS}: TLS does not exist yet, so the answer is {@code NBD_REP_ERR_POLICY}
 * (what qemu-nbd says without {@code --tls-creds}) and negotiation goes on in plain text.
 */
final class StartTlsOption implements OptionHandler<NbdOption.StartTls> {
    @Override
    public Next handle(NbdOption.StartTls option, Context ctx) {
        ctx.send(new NbdOptionReply.Error(option.code(), REP_ERR_POLICY, "TLS not configured"));
        return Next.CONTINUE;
    }
}
