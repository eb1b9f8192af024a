package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu's qcow2_amend_helper_cb. An amend runs up to three long operations
 * (upgrade, refcount order change, downgrade), each reporting (offset, work size) of its own;
 * this folds them into one (offset, total) for qemu-img's progress line: completed operations
 * add their last work size, and the operations still to come are projected with the average
 * work size so far. The same integer arithmetic as qemu, so the same percentages are printed.
 */

/** Folds the progress of several amend operations into one, as qemu's helper callback does. */
public final class Qcow2AmendProgress {
    /** Receives qemu's status callback: {@code offset} of {@code totalWorkSize} done. */
    @FunctionalInterface
    public interface Status {
        /** One status report. */
        void report(long offset, long totalWorkSize);
    }

    /** The operations, in qemu's enum order. */
    enum Operation { NONE, UPGRADING, UPDATING_ENCRYPTION, CHANGING_REFCOUNT_ORDER, DOWNGRADING }

    private final Status target;
    private final int totalOperations;
    private Operation current = Operation.NONE;
    private Operation last = Operation.NONE;
    private int operationsCompleted;
    private long offsetCompleted;
    private long lastWorkSize;

    Qcow2AmendProgress(Status target, int totalOperations) {
        this.target = target;
        this.totalOperations = totalOperations;
    }

    /** Starts reporting for {@code operation}. */
    void begin(Operation operation) {
        this.current = operation;
    }

    /** A status report of the current operation. */
    void report(long operationOffset, long operationWorkSize) {
        if (current != last) {
            if (last != Operation.NONE) {
                offsetCompleted += lastWorkSize;
                operationsCompleted++;
            }
            last = current;
        }
        lastWorkSize = operationWorkSize;
        long currentWorkSize = offsetCompleted + operationWorkSize;
        long projected = currentWorkSize * (totalOperations - operationsCompleted - 1) / (operationsCompleted + 1);
        target.report(offsetCompleted + operationOffset, currentWorkSize + projected);
    }
}
