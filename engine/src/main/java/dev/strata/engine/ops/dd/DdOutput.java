package dev.strata.engine.ops.dd;

/*
 * Design note: qemu-img dd creates its output with bdrv_create and the output format's
 * defaults (no -o options), exactly as convert creates a target, so the creation goes through
 * the engine's ConvertTarget (which owns the create machinery of every format strata can
 * create); this class only words the failures as img_dd does.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.create.ConvertTarget;

/** Creates and opens the output image of {@code qemu-img dd}. */
public final class DdOutput {
    private final String name;
    private final String format;
    private final ConvertTarget target;

    private DdOutput(String name, String format, ConvertTarget target) {
        this.name = name;
        this.format = format;
        this.target = target;
    }

    /**
     * Checks the output format and plans an output of {@code size} bytes.
     *
     * @throws StrataException "Unknown file format" (img_dd's wording) for a format qemu does not
     *         know; "Format driver 'X' does not support image creation" for one strata cannot create
     */
    public static DdOutput plan(String name, String format, long size) {
        try {
            return new DdOutput(name, format, ConvertTarget.prepare(format, name, null, size, null, null));
        } catch (StrataException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("Unknown file format")) {
                throw new StrataException(e.kind(), "Unknown file format", e);
            }
            throw e;
        }
    }

    /**
     * Creates the output image (an existing file is replaced).
     *
     * @throws StrataException "NAME: error while creating output image: REASON"
     */
    public void create() {
        try {
            target.execute();
        } catch (StrataException e) {
            throw new StrataException(e.kind(), name + ": error while creating output image: " + e.getMessage(), e);
        }
    }

    /**
     * Opens the created output read-write (cache mode writeback, as qemu-img dd does).
     *
     * @throws StrataException "Could not open 'NAME': REASON"
     */
    public Image open() {
        try {
            return ChainOpener.standard().open(name, format, new OpenOptions(false, false, false));
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(name, e), e);
        }
    }
}
