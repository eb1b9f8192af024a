package dev.strata.cli.command;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.Layer;

/**
 * Opens an image argument with its backing chain, read-only, as qemu-img's img_open does for
 * commands that read guest data (map, compare).
 *
 * <p>qemu refuses to open an encrypted qcow2 for I/O without a key secret, even for map; info
 * alone (BDRV_O_NO_IO) opens it. strata-img cannot decrypt yet, so an encrypted layer fails the
 * open with qemu's message. (The engine has no "no I/O" open flag to carry this decision.)
 */
final class Opening {
    private Opening() {
    }

    /**
     * @throws StrataException with qemu-img's complete message ("Could not open 'NAME': ...")
     */
    static Image open(ImageOpts.Resolved r, boolean forceShare) {
        OpenOptions options = new OpenOptions(true, forceShare || r.forceShare(), false);
        Image image;
        try {
            image = ChainOpener.standard().open(r.source().fileName(), r.source().format(), options);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(r.source().displayName(), e), e);
        }
        for (int i = 0; i < image.layers().size(); i++) {
            Layer layer = image.layers().get(i);
            if (layer.driver().describe().encrypted()) {
                image.close();
                String reason = "Parameter 'encrypt.key-secret' is required for cipher";
                throw StrataException.unsupported("Could not open '" + r.source().displayName() + "': "
                        + (i == 0 ? reason : "Could not open backing file: " + reason));
            }
        }
        return image;
    }
}
