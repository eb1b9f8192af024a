package dev.strata.engine.ops.dd;

import dev.strata.engine.StrataException;

/**
 * A read of the input or a write of the output failed during the copy. The CLI words it as
 * qemu-img does ("error while reading from input image file: Input/output error") from
 * {@link #writing()} and the kind; the message here adds the engine's own cause.
 */
public final class DdFailure extends StrataException {
    private static final long serialVersionUID = 1L;

    private final boolean writing;

    DdFailure(boolean writing, StrataException cause) {
        super(cause.kind(), "error while " + (writing ? "writing to output" : "reading from input")
                + " image file: " + cause.getMessage(), cause);
        this.writing = writing;
    }

    /** True when an output write (or the final flush) failed, false when an input read did. */
    public boolean writing() {
        return writing;
    }
}
