package dev.strata.engine.ops.resize;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;

/**
 * qemu-img resize refuses to shrink without {@code --shrink}: an error followed by a warning
 * (qemu prints the second through warn_report, so it carries "warning: ").
 */
public final class ShrinkNotAllowed extends StrataException {
    private static final long serialVersionUID = 1L;

    ShrinkNotAllowed() {
        super(ErrorKind.EINVAL, "Use the --shrink option to perform a shrink operation.");
    }

    /** The warning qemu-img prints after the error, without the "warning: " prefix. */
    public String warning() {
        return "Shrinking an image will delete all data beyond the shrunken image's end. Before performing such an"
                + " operation, make sure there is no important data there.";
    }
}
