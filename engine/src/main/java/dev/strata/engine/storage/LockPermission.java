package dev.strata.engine.storage;

/**
 * The permissions qemu's block layer negotiates between users of one file, in the order of its
 * {@code BLK_PERM_*} bits (qemu 7.2), which is also the order of their lock bytes: permission
 * {@code i} is held as a shared lock on byte {@code 100 + i}, and a permission a user refuses to
 * share as a shared lock on byte {@code 200 + i} (block/file-posix.c's lock scheme, so that
 * qemu and strata see each other's claims).
 */
public enum LockPermission {
    CONSISTENT_READ("consistent read"),
    WRITE("write"),
    WRITE_UNCHANGED("write unchanged"),
    RESIZE("resize");

    /** First byte of the "I use permission i" locks. */
    static final long PERM_BASE = 100;
    /** First byte of the "nobody else may use permission i" locks. */
    static final long SHARED_BASE = 200;

    private final String qemuName;

    LockPermission(String qemuName) {
        this.qemuName = qemuName;
    }

    /** The name qemu's lock errors use ("write" in {@code Failed to get "write" lock}). */
    public String qemuName() {
        return qemuName;
    }

    /** The byte whose lock says "this permission is in use". */
    long useByte() {
        return PERM_BASE + ordinal();
    }

    /** The byte whose lock says "this permission may not be used by anyone else". */
    long exclusionByte() {
        return SHARED_BASE + ordinal();
    }
}
