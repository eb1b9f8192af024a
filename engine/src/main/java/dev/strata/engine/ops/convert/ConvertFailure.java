package dev.strata.engine.ops.convert;

import dev.strata.engine.StrataException;

/**
 * A read or write of the copy failed. The CLI words it as qemu-img does ("error while writing at
 * byte N: No space left on device"); the message here adds the engine's own cause.
 */
public final class ConvertFailure extends StrataException {
    private static final long serialVersionUID = 1L;

    private final boolean writing;
    private final long offset;

    ConvertFailure(boolean writing, long offset, StrataException cause) {
        super(cause.kind(), "error while " + (writing ? "writing" : "reading") + " at byte " + offset + ": "
                + cause.getMessage(), cause);
        this.writing = writing;
        this.offset = offset;
    }

    /** True when the target write failed, false when a source read did. */
    public boolean writing() {
        return writing;
    }

    /** Byte offset (in the concatenated sources) of the chunk that failed. */
    public long offset() {
        return offset;
    }
}
