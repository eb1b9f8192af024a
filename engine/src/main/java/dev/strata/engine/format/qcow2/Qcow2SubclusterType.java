package dev.strata.engine.format.qcow2;

/**
 * What one (sub)cluster of a guest range is, as qemu's QCow2SubclusterType classifies it.
 * Without extended L2 entries every cluster is one subcluster.
 */
public enum Qcow2SubclusterType {
    /** Data stored verbatim at the host offset. */
    NORMAL,
    /** Data stored compressed (the whole cluster). */
    COMPRESSED,
    /** Reads as zeros; no host cluster. */
    ZERO_PLAIN,
    /** Reads as zeros; a host cluster is preallocated. */
    ZERO_ALLOC,
    /** Not allocated here (read the backing file); no host cluster. */
    UNALLOCATED_PLAIN,
    /** Not allocated here (read the backing file), but its host cluster exists. */
    UNALLOCATED_ALLOC,
    /** An impossible combination of bits (alloc and zero both set, ...): corrupt metadata. */
    INVALID;

    /** Whether this type has a valid host cluster offset (qemu reports OFFSET_VALID for it). */
    public boolean hasHostCluster() {
        return this == NORMAL || this == ZERO_ALLOC || this == UNALLOCATED_ALLOC;
    }
}
