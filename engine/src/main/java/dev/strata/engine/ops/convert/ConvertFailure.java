package dev.strata.engine.ops.convert;

import dev.strata.engine.StrataException;

/**
 * A step of the copy failed. The CLI words it as qemu-img does ("error while writing at byte N:
 * No space left on device", "error while reading block status at offset N: ..."); the message
 * here adds the engine's own cause.
 */
public final class ConvertFailure extends StrataException {
    private static final long serialVersionUID = 1L;

    /** Which step of the copy failed. */
    public enum Stage {
        /** Block status of a source (offset: in that source). */
        BLOCK_STATUS,
        /** A source read (offset: in the concatenated sources). */
        READ,
        /** A target write (offset: in the target). */
        WRITE
    }

    private final Stage stage;
    private final long offset;

    ConvertFailure(Stage stage, long offset, StrataException cause) {
        super(cause.kind(), describe(stage, offset) + ": " + cause.getMessage(), cause);
        this.stage = stage;
        this.offset = offset;
    }

    private static String describe(Stage stage, long offset) {
        return switch (stage) {
            case BLOCK_STATUS -> "error while reading block status at offset " + offset;
            case READ -> "error while reading at byte " + offset;
            case WRITE -> "error while writing at byte " + offset;
        };
    }

    /** The step that failed. */
    public Stage stage() {
        return stage;
    }

    /** True when the target write failed. */
    public boolean writing() {
        return stage == Stage.WRITE;
    }

    /** Byte offset of the failed step (see {@link Stage} for what it counts from). */
    public long offset() {
        return offset;
    }
}
