package dev.strata.cli.command;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;

/** Opens an image argument with its backing chain, read-only, as qemu-img's img_open does. */
final class Opening {
    private Opening() {
    }

    /**
     * @throws StrataException with qemu-img's complete message ("Could not open 'NAME': ...")
     */
    static Image open(ImageOpts.Resolved r, boolean forceShare) {
        OpenOptions options = new OpenOptions(true, forceShare || r.forceShare(), false);
        try {
            return ChainOpener.standard().open(r.source().fileName(), r.source().format(), options);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(r.source().displayName(), e), e);
        }
    }
}
