package dev.strata.engine.ops.commit;

/**
 * One request the commit copy makes of the base, in the order the copy makes them: a copy of
 * the guest view (at most one read buffer long), a zero write with unmap, or a discard. The last
 * request of one of qemu's mirror operations {@code reports}: after it the job's progress is
 * {@code progress} percent and {@code counted} bytes go to the speed limit.
 *
 * @param kind     what is done to {@code [offset, offset + length)}
 * @param offset   guest offset
 * @param length   bytes, more than 0
 * @param reports  whether this request ends a mirror operation
 * @param progress percent done once this request has completed (when {@code reports})
 * @param counted  bytes the operation counts as done (when {@code reports})
 */
record CommitStep(Kind kind, long offset, long length, boolean reports, float progress, long counted) {

    /** What a step does. */
    enum Kind {
        /** Read the guest view, write it into the base. */
        COPY,
        /** Write zeroes into the base, host space may be unmapped. */
        ZERO,
        /** Discard the range of the base. */
        DISCARD
    }
}
