package dev.strata.daemon.nbd.handshake;

import dev.strata.daemon.export.Export;
import dev.strata.daemon.nbd.MetaContext;
import dev.strata.nbd.protocol.NbdOption;
import dev.strata.nbd.protocol.NbdOptionReply;

import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * {@code NBD_OPT_LIST_META_CONTEXT} and {@code NBD_OPT_SET_META_CONTEXT}: one
 * {@code NBD_REP_META_CONTEXT} per matching context (see {@link MetaContext#match}), then ACK.
 * LIST answers with id 0, SET with the context's id and replaces the previous selection.
 * Both need structured replies first (QEMU's rule); an unknown export is
 * {@code NBD_REP_ERR_UNKNOWN}.
 */
final class MetaContextOption implements OptionHandler<NbdOption.MetaContextRequest> {
    @Override
    public Next handle(NbdOption.MetaContextRequest option, Context ctx) {
        var session = ctx.session();
        int code = option.code();
        if (!session.structuredReplies()) {
            ctx.send(new NbdOptionReply.Error(code, REP_ERR_INVALID,
                    optionName(code) + " without structured replies negotiated"));
            return Next.CONTINUE;
        }
        Export export = session.registry().lookup(option.exportName()).orElse(null);
        if (export == null) {
            ctx.send(new NbdOptionReply.Error(code, REP_ERR_UNKNOWN, "export " + OptionHandler.quoted(option.exportName()) + " not present"));
            return Next.CONTINUE;
        }
        List<MetaContext> hits = MetaContext.match(export, code, option.queries());
        boolean set = code == OPT_SET_META_CONTEXT;
        for (MetaContext c : hits) {
            ctx.send(new NbdOptionReply.MetaContext(code, set ? c.id() : 0, c.contextName()));
        }
        if (set) {
            session.metaContexts(export.name(), hits);
        }
        ctx.send(new NbdOptionReply.Ack(code));
        return Next.CONTINUE;
    }
}
