package dev.strata.engine.format.qcow2.check;

/**
 * What qemu's block layer lets a driver read: requests with a negative offset or reaching past
 * BDRV_MAX_LENGTH (INT64_MAX rounded down to 1 GiB) fail with EIO before any I/O. Everything
 * below reads, past EOF as zeros.
 */
final class HostLimits {
    /** qemu's BDRV_MAX_LENGTH. */
    static final long MAX_LENGTH = Long.MAX_VALUE & ~((1L << 30) - 1);

    private HostLimits() {
    }

    /** Whether qemu can read {@code length} bytes at {@code offset} (as unsigned values). */
    static boolean readable(long offset, long length) {
        return offset >= 0 && offset <= MAX_LENGTH && length >= 0 && length <= MAX_LENGTH - offset;
    }
}
