package dev.strata.engine.storage;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Image locking compatible with qemu's file-posix: every claim ({@link LockRequest}) on a host
 * file becomes shared open-file-description locks on single bytes ({@link LockPermission}), and
 * a claim is refused when another open file description (another qemu, qemu-nbd, strata
 * process) holds a byte that contradicts it. Locks are advisory: they stop cooperating programs,
 * they never change the file.
 *
 * <p>Design note: qemu has one node per file and changes its permissions in place, so its own
 * uses of a file never conflict. Strata opens a file several times within one operation (check
 * reads through one descriptor and repairs through another; snapshot probes, then edits). To
 * behave like one qemu process, all claims a process makes on one file (same device and inode)
 * share one lock descriptor, which holds the union of the claims; only other descriptors, that
 * is other processes, can conflict. A claim is recorded first and checked second, as qemu
 * applies its lock bytes before it tests them, so two programs claiming at once cannot both
 * win.
 */
final class HostLocks {
    private static final Map<Object, Entry> ENTRIES = new HashMap<>();
    private static final int EAGAIN = 11;

    private HostLocks() {
    }

    /** One claim; {@link #release} gives it back (idempotent). */
    interface Lease {
        /** A lease that holds nothing. */
        Lease NONE = () -> { };

        void release();
    }

    /** The locked descriptor of one file and the claims that share it. */
    private static final class Entry {
        final int fd;
        final List<LockRequest> claims = new ArrayList<>();
        final Set<Long> lockedBytes = new java.util.HashSet<>();

        Entry(int fd) {
            this.fd = fd;
        }
    }

    /**
     * Claims {@code request} on the host file {@code path}.
     *
     * @param shownName the name qemu's hint shows ("Is another process using the image [NAME]?")
     * @throws StrataException EBUSY with qemu's wording when another program's claim conflicts
     */
    static Lease acquire(Path path, String shownName, LockRequest request) {
        if (request.isEmpty() || !HostFiles.canLock()) {
            return Lease.NONE;
        }
        Object key = fileKey(path);
        synchronized (ENTRIES) {
            Entry entry = ENTRIES.get(key);
            if (entry == null) {
                int fd = HostFiles.openForQueries(path.toString(), false);
                if (fd < 0) {
                    return Lease.NONE; // the file's own open reports why it cannot be read
                }
                entry = new Entry(fd);
                ENTRIES.put(key, entry);
            }
            entry.claims.add(request);
            String failure = apply(entry);
            if (failure == null) {
                failure = check(entry.fd, request);
            }
            if (failure != null) {
                drop(key, entry, request);
                throw new StrataException(ErrorKind.EBUSY,
                        failure + "\nIs another process using the image [" + shownName + "]?");
            }
            Entry held = entry;
            boolean[] released = new boolean[1];
            return () -> {
                synchronized (ENTRIES) {
                    if (!released[0]) {
                        released[0] = true;
                        drop(key, held, request);
                    }
                }
            };
        }
    }

    /** Removes one claim; the bytes only it needed are unlocked, the descriptor closed with the last. */
    private static void drop(Object key, Entry entry, LockRequest request) {
        entry.claims.remove(request);
        if (entry.claims.isEmpty()) {
            HostFiles.close(entry.fd); // closing the description drops all its locks
            ENTRIES.remove(key);
        } else {
            apply(entry);
        }
    }

    /**
     * Makes the descriptor hold exactly the bytes the union of its claims needs.
     *
     * @return qemu's message when a byte cannot be locked (another program holds a write lock
     *         on it), else null
     */
    private static String apply(Entry entry) {
        Set<Long> wanted = new java.util.HashSet<>();
        for (LockRequest claim : entry.claims) {
            claim.used().forEach(p -> wanted.add(p.useByte()));
            claim.unshared().forEach(p -> wanted.add(p.exclusionByte()));
        }
        for (long b : new ArrayList<>(entry.lockedBytes)) {
            if (!wanted.contains(b)) {
                HostFiles.setLock(entry.fd, HostFiles.F_UNLCK, b);
                entry.lockedBytes.remove(b);
            }
        }
        for (long b : wanted) {
            if (!entry.lockedBytes.contains(b)) {
                int errno = HostFiles.setLock(entry.fd, HostFiles.F_RDLCK, b);
                if (errno != 0) {
                    return "Failed to lock byte " + b + (errno == EAGAIN ? ": Resource temporarily unavailable" : "");
                }
                entry.lockedBytes.add(b);
            }
        }
        return null;
    }

    /** raw_check_lock_bytes: first the permissions used, then the ones refused to others. */
    private static String check(int fd, LockRequest request) {
        for (LockPermission p : EnumSet.allOf(LockPermission.class)) {
            if (request.used().contains(p) && HostFiles.conflicts(fd, p.exclusionByte())) {
                return "Failed to get \"" + p.qemuName() + "\" lock";
            }
        }
        for (LockPermission p : EnumSet.allOf(LockPermission.class)) {
            if (request.unshared().contains(p) && HostFiles.conflicts(fd, p.useByte())) {
                return "Failed to get shared \"" + p.qemuName() + "\" lock";
            }
        }
        return null;
    }

    /** The file's identity (device and inode), so that every name of one file shares one entry. */
    private static Object fileKey(Path path) {
        try {
            Object key = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
            if (key != null) {
                return key;
            }
        } catch (IOException e) {
            // fall through to the name
        }
        return path.toAbsolutePath().normalize();
    }
}
