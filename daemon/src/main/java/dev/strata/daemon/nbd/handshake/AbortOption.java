package dev.strata.daemon.nbd.handshake;

import dev.strata.nbd.protocol.NbdOption;
import dev.strata.nbd.protocol.NbdOptionReply;

/** {@code NBD_OPT_ABORT}: acknowledge, then close (a soft disconnect). */
final class AbortOption implements OptionHandler<NbdOption.Abort> {
    @Override
    public Next handle(NbdOption.Abort option, Context ctx) {
        ctx.send(new NbdOptionReply.Ack(option.code()));
        return Next.CLOSE;
    }
}
