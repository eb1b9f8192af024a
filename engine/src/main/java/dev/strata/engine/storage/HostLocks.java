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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Image locking compatible with qemu's file-posix: every claim ({@link LockRequest}) on a host
 * file becomes shared open-file-description locks on single bytes ({@link LockPermission}), and
 * a claim is refused when a claim of another program (qemu, qemu-nbd, another strata) or an
 * earlier claim of this process contradicts it. Locks are advisory: they stop cooperating
 * programs, they never change the file.
 *
 * <p>Design note: each open of a file is its own party, as each of qemu's nodes is, so that
 * {@code convert -n a a} or a rebase onto the image itself is refused as qemu refuses it. The
 * locks of all claims a process makes on one file (same device and inode) are held through one
 * descriptor, which holds the union of their bytes: the kernel then sees other processes'
 * claims only ({@code F_OFD_GETLK} ignores the asking descriptor's own locks), so conflicts
 * among this process's claims are found from the claims themselves. A party that changes its
 * mind (qemu's permission update on one node) replaces its claim in one step ({@link #acquire}
 * with the claim it replaces), never conflicting with itself. A claim is recorded before it is
 * checked, as qemu applies its lock bytes before testing them, so two programs claiming at once
 * cannot both win.
 */
final class HostLocks {
    private static final Map<Object, Entry> ENTRIES = new HashMap<>();
    private static final int EAGAIN = 11;

    private HostLocks() {
    }

    /** One party's claim on one file; {@link #release} gives it back (idempotent). */
    static final class Claim {
        /** A claim that holds nothing. */
        static final Claim NONE = new Claim(null, null, LockRequest.NONE);

        private final Object key;
        private final Entry entry;
        private final LockRequest request;
        private boolean released;

        private Claim(Object key, Entry entry, LockRequest request) {
            this.key = key;
            this.entry = entry;
            this.request = request;
        }

        void release() {
            if (entry == null) {
                return;
            }
            synchronized (ENTRIES) {
                if (!released) {
                    released = true;
                    drop(key, entry, this);
                }
            }
        }
    }

    /** The locked descriptor of one file and the claims that share it. */
    private static final class Entry {
        final int fd;
        final List<Claim> claims = new ArrayList<>();
        final Set<Long> lockedBytes = new HashSet<>();

        Entry(int fd) {
            this.fd = fd;
        }
    }

    /**
     * Claims {@code request} on the host file {@code path}, in place of {@code replaced} (the
     * same party's earlier claim, released when the new one is granted, kept when it is not).
     *
     * @param shownName the name qemu's hint shows ("Is another process using the image [NAME]?")
     * @throws StrataException EBUSY with qemu's wording when another party's claim conflicts
     */
    static Claim acquire(Path path, String shownName, LockRequest request, Claim replaced) {
        if (request.isEmpty() || !HostFiles.canLock()) {
            replaced.release();
            return Claim.NONE;
        }
        Object key = fileKey(path);
        synchronized (ENTRIES) {
            Entry entry = ENTRIES.get(key);
            if (entry == null) {
                int fd = HostFiles.openForQueries(path.toString(), false);
                if (fd < 0) {
                    return replaced; // the file's own open reports why it cannot be read
                }
                entry = new Entry(fd);
                ENTRIES.put(key, entry);
            }
            Claim claim = new Claim(key, entry, request);
            entry.claims.add(claim);
            String failure = apply(entry);
            if (failure == null) {
                failure = check(entry, claim, replaced);
            }
            if (failure != null) {
                drop(key, entry, claim);
                throw new StrataException(ErrorKind.EBUSY,
                        failure + "\nIs another process using the image [" + shownName + "]?");
            }
            replaced.release();
            return claim;
        }
    }

    /** Removes one claim; the bytes only it needed are unlocked, the descriptor closed with the last. */
    private static void drop(Object key, Entry entry, Claim claim) {
        entry.claims.remove(claim);
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
        Set<Long> wanted = new HashSet<>();
        for (Claim claim : entry.claims) {
            for (LockPermission p : claim.request.used()) {
                wanted.add(p.useByte());
            }
            for (LockPermission p : claim.request.unshared()) {
                wanted.add(p.exclusionByte());
            }
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

    /**
     * raw_check_lock_bytes: first the permissions the claim uses, then the ones it refuses to
     * others, each against other programs (the kernel) and this process's other parties.
     */
    private static String check(Entry entry, Claim claim, Claim replaced) {
        List<LockRequest> others = new ArrayList<>();
        for (Claim c : entry.claims) {
            if (c != claim && c != replaced) {
                others.add(c.request);
            }
        }
        for (LockPermission p : EnumSet.allOf(LockPermission.class)) {
            if (claim.request.used().contains(p) && (HostFiles.conflicts(entry.fd, p.exclusionByte())
                    || anyHolds(others, p, true))) {
                return "Failed to get \"" + p.qemuName() + "\" lock";
            }
        }
        for (LockPermission p : EnumSet.allOf(LockPermission.class)) {
            if (claim.request.unshared().contains(p) && (HostFiles.conflicts(entry.fd, p.useByte())
                    || anyHolds(others, p, false))) {
                return "Failed to get shared \"" + p.qemuName() + "\" lock";
            }
        }
        return null;
    }

    /** Whether one of {@code requests} refuses ({@code unshared}) or else uses {@code p}. */
    private static boolean anyHolds(List<LockRequest> requests, LockPermission p, boolean unshared) {
        for (LockRequest r : requests) {
            if ((unshared ? r.unshared() : r.used()).contains(p)) {
                return true;
            }
        }
        return false;
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
