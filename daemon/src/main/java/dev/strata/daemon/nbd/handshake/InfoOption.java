package dev.strata.daemon.nbd.handshake;

import dev.strata.daemon.Log;
import dev.strata.daemon.export.Export;
import dev.strata.nbd.protocol.NbdInfo;
import dev.strata.nbd.protocol.NbdOption;
import dev.strata.nbd.protocol.NbdOptionReply;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * {@code NBD_OPT_INFO} and {@code NBD_OPT_GO}: describe an export and, for GO, enter
 * transmission. As QEMU does: {@code NBD_INFO_NAME} only when asked for,
 * {@code NBD_INFO_DESCRIPTION} whenever the export has one, {@code NBD_INFO_BLOCK_SIZE} always
 * (minimum 1, preferred 4096, maximum payload 32 MiB: the engine reads any byte range), and
 * {@code NBD_INFO_EXPORT} always, last, before the ACK. An unknown export gets
 * {@code NBD_REP_ERR_UNKNOWN} and negotiation goes on.
 */
final class InfoOption implements OptionHandler<NbdOption.InfoRequest> {
    /** Minimum block size: any byte offset and length is fine. */
    static final long MIN_BLOCK = 1;
    /** Preferred block size. */
    static final long PREFERRED_BLOCK = 4096;
    /** Largest payload of one request: qemu's NBD_MAX_BUFFER_SIZE. */
    static final long MAX_PAYLOAD = DEFAULT_MAX_PAYLOAD;

    @Override
    public Next handle(NbdOption.InfoRequest option, Context ctx) {
        var session = ctx.session();
        int code = option.code();
        Export export = session.registry().lookup(option.exportName()).orElse(null);
        if (export == null) {
            ctx.send(new NbdOptionReply.Error(code, REP_ERR_UNKNOWN, "export " + OptionHandler.quoted(option.exportName()) + " not present"));
            return Next.CONTINUE;
        }
        if (option.infoRequests().contains(INFO_NAME)) {
            ctx.send(new NbdOptionReply.Info(code, new NbdInfo.Name(export.name())));
        }
        if (!export.description().isEmpty()) {
            ctx.send(new NbdOptionReply.Info(code, new NbdInfo.Description(export.description())));
        }
        ctx.send(new NbdOptionReply.Info(code, new NbdInfo.BlockSize(MIN_BLOCK, PREFERRED_BLOCK, MAX_PAYLOAD)));
        ctx.send(new NbdOptionReply.Info(code, new NbdInfo.Export(export.size(), session.transmissionFlags(export))));
        ctx.send(new NbdOptionReply.Ack(code));
        if (code == OPT_GO) {
            session.choose(export);
            Log.info(session.peer() + ": entering transmission with export '" + export.name() + "'");
            return Next.TRANSMISSION;
        }
        return Next.CONTINUE;
    }
}
