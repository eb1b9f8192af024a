package dev.strata.engine.ops.check;

/**
 * What qemu-img check prints while the image is still open, told to its caller at the moment
 * qemu prints it: the repair notice between a repair that fixed something and the second check,
 * and the outcome (the report, or "Check failed") before the image is closed. Whatever the close
 * prints (the bitmaps qcow2_inactivate stores) comes after. Called on the checking thread.
 */
public interface CheckSteps {

    /** The repair pass fixed leaks or corruptions ({@code fixed}); the second check follows. */
    default void repaired(CheckReport fixed) {
    }

    /**
     * The check is over with {@code outcome} (named with the image's display name); the image
     * is closed after this returns. Told once per check, and not at all when the open fails.
     */
    void finished(CheckOutcome outcome);

    /** Steps that print nothing. */
    static CheckSteps silent() {
        return outcome -> { };
    }
}
