package dev.strata.daemon.nbd.handshake;

import dev.strata.daemon.export.Export;
import dev.strata.nbd.protocol.NbdOption;
import dev.strata.nbd.protocol.NbdOptionReply;

/** {@code NBD_OPT_LIST}: one {@code NBD_REP_SERVER} per export (name and description), then ACK. */
final class ListOption implements OptionHandler<NbdOption.ListExports> {
    @Override
    public Next handle(NbdOption.ListExports option, Context ctx) {
        for (Export e : ctx.session().registry().list()) {
            ctx.send(new NbdOptionReply.Server(option.code(), e.name(), e.description()));
        }
        ctx.send(new NbdOptionReply.Ack(option.code()));
        return Next.CONTINUE;
    }
}
