package dev.strata.engine.ops.commit;

/** What a commit reports while it runs; every method is called from the committing thread. */
public interface CommitListener {
    /** Prints nothing. */
    CommitListener NONE = new CommitListener() {
    };

    /**
     * Text qemu prints on stderr as is while opening the image (the probed-raw warning),
     * newline-terminated lines.
     */
    default void warning(String text) {
    }

    /**
     * The block job's progress in percent, as qemu-img's run_block_job prints it: 0 when the job
     * is about to start (qemu prints this before it looks for the base), then after each step of
     * the copy; 100 once the copy has completed.
     */
    default void progress(float percent) {
    }
}
