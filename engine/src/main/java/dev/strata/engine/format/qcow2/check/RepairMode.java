package dev.strata.engine.format.qcow2.check;

/** What {@code qemu-img check -r} may fix (qemu's BdrvCheckMode). */
public enum RepairMode {
    /** {@code -r leaks}: refcounts that are too high (BDRV_FIX_LEAKS). */
    LEAKS,
    /** {@code -r all}: leaks and errors (BDRV_FIX_LEAKS | BDRV_FIX_ERRORS). */
    ALL
}
