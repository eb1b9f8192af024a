package dev.strata.engine.storage;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * What one user of a host file claims, in qemu's terms: the permissions it uses and the
 * permissions it refuses to share with other users. The factories give the claims qemu-img 7.2
 * makes for each role a file plays (measured with strace on qemu-img and qemu-nbd).
 *
 * @param used     permissions this user exercises
 * @param unshared permissions nobody else may exercise while this user holds the file
 */
public record LockRequest(Set<LockPermission> used, Set<LockPermission> unshared) {

    /** Claims nothing: the file is opened without locking (qemu's -U on read-only opens of raw files). */
    public static final LockRequest NONE = new LockRequest(Set.of(), Set.of());

    public LockRequest {
        used = copy(used);
        unshared = copy(unshared);
    }

    private static Set<LockPermission> copy(Set<LockPermission> set) {
        Objects.requireNonNull(set);
        return set.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(set));
    }

    /**
     * The file of an image in a format with metadata (qcow2, vmdk, vhd, ...): a reader reads
     * consistently unless it opened for metadata only, a writer also writes and resizes; nobody
     * else may write or resize it meanwhile, unless {@code forceShare} (qemu's -U, read-only).
     */
    public static LockRequest imageFile(boolean readOnly, boolean noIo, boolean forceShare) {
        return new LockRequest(uses(readOnly, noIo, true),
                forceShare ? Set.of() : EnumSet.of(LockPermission.WRITE, LockPermission.RESIZE));
    }

    /**
     * The file of a raw image: the raw format shares everything; a writer writes (and resizes
     * only when {@code resizes}, as qemu-img resize does).
     */
    public static LockRequest rawFile(boolean readOnly, boolean noIo, boolean resizes) {
        return new LockRequest(uses(readOnly, noIo, resizes), Set.of());
    }

    /**
     * A qcow2 image's external data file: used like the image, and nobody else may resize it,
     * unless {@code forceShare}.
     */
    public static LockRequest dataFile(boolean readOnly, boolean forceShare) {
        return new LockRequest(uses(readOnly, false, true),
                forceShare ? Set.of() : EnumSet.of(LockPermission.RESIZE));
    }

    /**
     * A file being created (or truncated to be formatted anew) by {@code create} or a convert
     * target: written and resized, nobody else may resize it (file-posix's create).
     */
    public static LockRequest creation() {
        return new LockRequest(EnumSet.of(LockPermission.WRITE, LockPermission.RESIZE),
                EnumSet.of(LockPermission.RESIZE));
    }

    private static Set<LockPermission> uses(boolean readOnly, boolean noIo, boolean resizes) {
        EnumSet<LockPermission> used = EnumSet.noneOf(LockPermission.class);
        if (!noIo) {
            used.add(LockPermission.CONSISTENT_READ);
        }
        if (!readOnly) {
            used.add(LockPermission.WRITE);
            if (resizes) {
                used.add(LockPermission.RESIZE);
            }
        }
        return used;
    }

    /** Whether this request claims nothing. */
    public boolean isEmpty() {
        return used.isEmpty() && unshared.isEmpty();
    }
}
