package dev.strata.engine.ops.commit;

/*
 * Design note: qemu's block-job speed limit (util/throttle's RateLimit as block_job_ratelimit_*
 * use it): time is cut into 100 ms slices, each allowing speed/10 bytes; a step that takes the
 * slice over its quota makes the next step wait for the slice (or slices) it used up.
 */

import dev.strata.engine.StrataException;

/** The speed limit of one block job (qemu-img commit -r). Not thread-safe. */
final class JobRateLimit {
    private static final long SLICE_NANOS = 100_000_000L;

    private final long bytesPerSlice;
    private long sliceStart = System.nanoTime();
    private long sliceEnd = sliceStart + SLICE_NANOS;
    private long dispatched;

    /** A limit of {@code bytesPerSecond}; 0 means none. */
    JobRateLimit(long bytesPerSecond) {
        this.bytesPerSlice = bytesPerSecond <= 0 ? 0 : Math.max(1, bytesPerSecond / 10);
    }

    /** Accounts for {@code bytes} just processed and waits as long as the limit requires. */
    void processed(long bytes) {
        if (bytesPerSlice == 0) {
            return;
        }
        dispatched += bytes;
        long now = System.nanoTime();
        if (now > sliceEnd) {
            sliceStart = now;
            sliceEnd = now + SLICE_NANOS;
            dispatched = bytes;
        }
        if (dispatched < bytesPerSlice) {
            return;
        }
        long slices = dispatched / bytesPerSlice;
        long wakeUp = sliceStart + slices * SLICE_NANOS;
        sleepUntil(wakeUp);
        sliceStart = wakeUp;
        sliceEnd = wakeUp + SLICE_NANOS;
        dispatched = dispatched % bytesPerSlice;
    }

    private static void sleepUntil(long deadline) {
        long wait;
        while ((wait = deadline - System.nanoTime()) > 0) {
            try {
                Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw StrataException.io("interrupted while committing");
            }
        }
    }
}
