package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;

/**
 * Opens an image argument with its backing chain, read-only and for I/O, as qemu-img's img_open
 * does for commands that read guest data (map, compare). The engine refuses what qemu refuses
 * for I/O (an encrypted image without a key, a missing external data file); metadata
 * corruption found later is printed as qemu prints it, and so is what the opens themselves print
 * (a qcow2 layer's stale-bitmaps warning).
 */
final class Opening {
    private Opening() {
    }

    /**
     * @throws StrataException with qemu-img's complete message ("Could not open 'NAME': ...")
     */
    static Image open(CliContext ctx, ImageOpts.Resolved r, boolean forceShare) {
        OpenOptions options = new OpenOptions(true, forceShare || r.forceShare(), false)
                .withCorruptionListener(ctx.corruptionReporter()).withDiagnostics(new StderrCheckListener(ctx));
        try {
            return ChainOpener.standard().open(r.source().fileName(), r.source().format(), options);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(r.source().displayName(), e), e);
        }
    }
}
