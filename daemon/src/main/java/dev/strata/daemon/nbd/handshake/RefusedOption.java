package dev.strata.daemon.nbd.handshake;

import dev.strata.daemon.Log;
import dev.strata.nbd.protocol.NbdOption;
import dev.strata.nbd.protocol.NbdOptionReply;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * The decoder's verdicts: an option stratad does not know ({@code NBD_REP_ERR_UNSUP}), one whose
 * data is over the limit ({@code NBD_REP_ERR_TOO_BIG}; its data was never buffered), and one whose
 * data is malformed ({@code NBD_REP_ERR_INVALID}). The session goes on, except for
 * {@code NBD_OPT_EXPORT_NAME}, which cannot be answered with an error: that closes.
 */
final class RefusedOption implements OptionHandler<NbdOption> {
    @Override
    public Next handle(NbdOption option, Context ctx) {
        int code = option.code();
        if (code == OPT_EXPORT_NAME) {
            Log.info(ctx.session().peer() + ": malformed NBD_OPT_EXPORT_NAME: disconnecting");
            return Next.CLOSE;
        }
        if (option instanceof NbdOption.TooBig tooBig) {
            ctx.send(new NbdOptionReply.Error(code, REP_ERR_TOO_BIG, optionName(code) + " data of "
                    + tooBig.length() + " bytes is over the limit"));
        } else if (option instanceof NbdOption.Invalid invalid) {
            ctx.send(new NbdOptionReply.Error(code, REP_ERR_INVALID, truncate(invalid.reason())));
        } else {
            ctx.send(new NbdOptionReply.Error(code, REP_ERR_UNSUP, "option " + optionName(code) + " not supported"));
        }
        return Next.CONTINUE;
    }

    private static String truncate(String s) {
        String m = s == null ? "" : s;
        return m.length() > 256 ? m.substring(0, 256) : m;
    }
}
