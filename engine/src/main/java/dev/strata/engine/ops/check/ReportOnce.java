package dev.strata.engine.ops.check;

import dev.strata.engine.format.qcow2.Qcow2Format;

/**
 * A check's outcome as qemu-img reports it (the report named after the command-line argument
 * and the format), handed to the caller's {@link CheckSteps} once: by the repair before it
 * closes the image, or by {@link CheckOp} after the check.
 */
final class ReportOnce {
    private final CheckSteps steps;
    private final String displayName;
    private boolean told;

    ReportOnce(CheckSteps steps, String displayName) {
        this.steps = steps;
        this.displayName = displayName;
    }

    /** The repair notice (see {@link CheckSteps#repaired}). */
    void repaired(CheckReport fixed) {
        steps.repaired(fixed.named(displayName, Qcow2Format.NAME));
    }

    /** {@code outcome} named; told to the steps unless an outcome was told already. */
    CheckOutcome finish(CheckOutcome outcome) {
        CheckOutcome named = outcome instanceof CheckOutcome.Completed c
                ? new CheckOutcome.Completed(c.report().named(displayName, Qcow2Format.NAME)) : outcome;
        if (!told) {
            told = true;
            steps.finished(named);
        }
        return named;
    }
}
