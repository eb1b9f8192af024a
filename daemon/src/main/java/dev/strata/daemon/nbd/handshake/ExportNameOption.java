package dev.strata.daemon.nbd.handshake;

import dev.strata.daemon.Log;
import dev.strata.daemon.export.Export;
import dev.strata.nbd.protocol.NbdExportNameReply;
import dev.strata.nbd.protocol.NbdOption;

/**
 * {@code NBD_OPT_EXPORT_NAME}: the old way into transmission. It cannot fail politely: for an
 * unknown export the spec leaves only a hard disconnect. The reply is size and flags, padded with
 * 124 zeroes unless the client set NO_ZEROES.
 */
final class ExportNameOption implements OptionHandler<NbdOption.ExportName> {
    @Override
    public Next handle(NbdOption.ExportName option, Context ctx) {
        var session = ctx.session();
        Export export = session.registry().lookup(option.exportName()).orElse(null);
        if (export == null) {
            Log.info(session.peer() + ": NBD_OPT_EXPORT_NAME for unknown export '" + option.exportName() + "': disconnecting");
            return Next.CLOSE;
        }
        session.choose(export);
        ctx.send(new NbdExportNameReply(export.size(), session.transmissionFlags(export), !session.noZeroes()));
        return Next.TRANSMISSION;
    }
}
