package dev.strata.engine.storage;

import dev.strata.engine.StrataException;

/**
 * qemu's cache modes ({@code -t}/{@code -T}): whether flushes reach the disk. Strata always goes
 * through the host page cache; the modes differ in which flushes are honoured.
 *
 * <ul>
 *   <li>{@link #WRITEBACK} (qemu's default for most verbs): flush barriers and explicit flushes
 *       are {@code fdatasync}.</li>
 *   <li>{@link #UNSAFE} (qemu-img convert's default for the target): every flush is skipped; a
 *       process crash still loses nothing that was written, a host crash may.</li>
 *   <li>{@link #WRITETHROUGH}, {@link #DIRECTSYNC}: as writeback, plus a flush after each guest
 *       write completes.</li>
 *   <li>{@link #NONE}: qemu uses O_DIRECT; Strata treats it as writeback (page cache, honoured
 *       flushes), which gives the same durability.</li>
 * </ul>
 */
public enum CacheMode {
    WRITEBACK, UNSAFE, WRITETHROUGH, NONE, DIRECTSYNC;

    /** Whether flushes (barriers and explicit) reach the disk. */
    public boolean honoursFlush() {
        return this != UNSAFE;
    }

    /** Whether every completed guest write is followed by a flush. */
    public boolean flushEachWrite() {
        return this == WRITETHROUGH || this == DIRECTSYNC;
    }

    /**
     * Parses qemu's cache mode names.
     *
     * @throws StrataException EINVAL "Invalid cache option: NAME" (qemu-img's wording) otherwise
     */
    public static CacheMode parse(String name) {
        switch (name) {
            case "writeback":
                return WRITEBACK;
            case "unsafe":
                return UNSAFE;
            case "writethrough":
                return WRITETHROUGH;
            case "none":
            case "off":
                return NONE;
            case "directsync":
                return DIRECTSYNC;
            default:
                throw StrataException.invalid("Invalid cache option: " + name);
        }
    }
}
