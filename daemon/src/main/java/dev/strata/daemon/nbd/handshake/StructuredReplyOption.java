package dev.strata.daemon.nbd.handshake;

import dev.strata.nbd.protocol.NbdOption;
import dev.strata.nbd.protocol.NbdOptionReply;

import static dev.strata.nbd.protocol.NbdConstants.REP_ERR_INVALID;

/** {@code NBD_OPT_STRUCTURED_REPLY}: switch replies to structured chunks; asking twice is invalid (as in QEMU). */
final class StructuredReplyOption implements OptionHandler<NbdOption.StructuredReply> {
    @Override
    public Next handle(NbdOption.StructuredReply option, Context ctx) {
        if (ctx.session().structuredReplies()) {
            ctx.send(new NbdOptionReply.Error(option.code(), REP_ERR_INVALID, "structured reply already negotiated"));
            return Next.CONTINUE;
        }
        ctx.session().structuredReplies(true);
        ctx.send(new NbdOptionReply.Ack(option.code()));
        return Next.CONTINUE;
    }
}
