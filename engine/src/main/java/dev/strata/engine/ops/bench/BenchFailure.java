package dev.strata.engine.ops.bench;

import dev.strata.engine.StrataException;

/**
 * A request (or an undrained flush) of a bench run failed. The CLI words it as qemu-img does:
 * "Failed request: REASON" or "Failed flush request: REASON", REASON being the strerror of the
 * kind; the message here keeps the engine's own cause.
 */
public final class BenchFailure extends StrataException {
    private static final long serialVersionUID = 1L;

    private final boolean undrainedFlush;

    BenchFailure(boolean undrainedFlush, StrataException cause) {
        super(cause.kind(), (undrainedFlush ? "Failed flush request: " : "Failed request: ") + cause.getMessage(), cause);
        this.undrainedFlush = undrainedFlush;
    }

    /** True when a flush issued without draining failed (qemu's "Failed flush request"). */
    public boolean undrainedFlush() {
        return undrainedFlush;
    }
}
