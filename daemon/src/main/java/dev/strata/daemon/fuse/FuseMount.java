package dev.strata.daemon.fuse;

import dev.strata.daemon.Log;
import dev.strata.daemon.export.Export;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A {@code --fuse MOUNTPOINT} mount: checks the mount point, mounts a {@link FuseView} through
 * libfuse 2 (jnr-fuse) on a thread of its own, waits until the kernel shows the mount, and
 * unmounts it again on {@link #close}.
 *
 * <p>File names: an export's file is named after the export. The default export (empty name)
 * is named after its image file: the basename without its last extension, plus {@code .raw}
 * ({@code disk.qcow2} becomes {@code disk.raw}), since the file holds the raw guest view. Names
 * that cannot be file names ({@code /}, NUL, {@code .}, {@code ..}, over 255 bytes) are refused
 * at start.
 *
 * <p>Mount options: {@code ro} (the kernel refuses writes with EROFS), {@code default_permissions}
 * (the kernel checks the 0444/0555 modes, which matters with {@code allow_other}),
 * {@code max_read=131072} (the largest read libfuse 2 can take; the kernel splits larger
 * sequential reads into requests of this size and reads ahead), {@code fsname=stratad} and
 * {@code subtype=stratad} (the type shows as {@code fuse.stratad}). {@code big_writes} is not set:
 * nothing is ever written. libfuse runs its multi-threaded loop, so readers proceed in parallel.
 *
 * <p>Stale mounts: a daemon killed with SIGKILL leaves the mount point dead ({@code stat} fails
 * with ENOTCONN, "Transport endpoint is not connected"). This is detected before mounting and
 * reported with the command that cleans it ({@code fusermount -u MOUNTPOINT}).
 */
public final class FuseMount implements AutoCloseable {
    /** Largest FUSE read libfuse 2 negotiates (32 pages). */
    static final int MAX_READ = 128 * 1024;
    private static final long MOUNT_TIMEOUT_MS = 15_000;
    private static final long UNMOUNT_WAIT_MS = 5_000;

    private final Path mountPoint;
    private final FuseView view;
    private final List<String> fileNames;
    private final Thread loop;
    private volatile Throwable loopFailure;
    private boolean closed;

    private FuseMount(Path mountPoint, FuseView view, List<String> fileNames, Thread loop) {
        this.mountPoint = mountPoint;
        this.view = view;
        this.fileNames = fileNames;
        this.loop = loop;
    }

    /** The mount point (absolute). */
    public Path mountPoint() {
        return mountPoint;
    }

    /** The file names shown in the mount, in export order. */
    public List<String> fileNames() {
        return fileNames;
    }

    /**
     * Checks the mount point, mounts, and returns once the kernel shows the mount.
     *
     * @throws FuseMountException with a one-line user-facing message
     */
    public static FuseMount mount(Path where, List<Export> exports, boolean allowOther) {
        Path mp = where.toAbsolutePath().normalize();
        checkDevice();
        checkMountPoint(mp);
        List<FuseView.Entry> entries = new ArrayList<>();
        List<String> names = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (Export e : exports) {
            String name = fileNameFor(e);
            if (!seen.add(name)) {
                throw new FuseMountException("--fuse: two exports would both be shown as '" + name
                        + "'; give the default export a name with -x or name=");
            }
            names.add(name);
            entries.add(new FuseView.Entry(name, e, mtimeOf(e.file())));
        }
        int uid = (int) unixId("uid");
        int gid = (int) unixId("gid");
        FuseView view = new FuseView(entries, uid, gid);
        String opts = "ro,default_permissions,fsname=stratad,subtype=stratad,max_read=" + MAX_READ
                + (allowOther ? ",allow_other" : "");
        String[] fuseArgs = {"-o", opts};
        FuseMount[] self = new FuseMount[1];
        Thread t = new Thread(() -> {
            try {
                view.mount(mp, true, false, fuseArgs);
            } catch (Throwable ex) {
                self[0].loopFailure = ex;
            }
        }, "stratad-fuse");
        FuseMount m = new FuseMount(mp, view, List.copyOf(names), t);
        self[0] = m;
        t.setDaemon(true);
        t.start();
        m.awaitMounted();
        Log.info("FUSE: mounted " + mp + " (" + String.join(", ", names) + ")");
        return m;
    }

    /** The name of {@code e}'s file in the mount (see the class comment). */
    static String fileNameFor(Export e) {
        String name = e.name();
        if (name.isEmpty()) {
            String base = Path.of(e.file()).getFileName().toString();
            int dot = base.lastIndexOf('.');
            if (dot > 0) {
                base = base.substring(0, dot);
            }
            name = base + ".raw";
        }
        if (name.equals(".") || name.equals("..") || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0
                || name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 255) {
            throw new FuseMountException("--fuse: export name '" + name + "' cannot be a file name"
                    + " (no '/', not '.' or '..', at most 255 bytes)");
        }
        return name;
    }

    private static void checkDevice() {
        if (!Files.exists(Path.of("/dev/fuse"))) {
            throw new FuseMountException("--fuse: /dev/fuse is missing: load the fuse kernel module"
                    + " (modprobe fuse), or give the container the device (--device /dev/fuse)");
        }
    }

    /** Refuses a missing, non-directory, stale or already-FUSE-mounted mount point. */
    static void checkMountPoint(Path mp) {
        try {
            BasicFileAttributes a = Files.readAttributes(mp, BasicFileAttributes.class);
            if (!a.isDirectory()) {
                throw new FuseMountException("--fuse: '" + mp + "' is not a directory");
            }
        } catch (NoSuchFileException e) {
            throw new FuseMountException("--fuse: mount point '" + mp + "' does not exist (create it with mkdir)");
        } catch (FileSystemException e) {
            String reason = String.valueOf(e.getReason());
            if (reason.toLowerCase(Locale.ROOT).contains("not connected")) {
                throw new FuseMountException("--fuse: '" + mp + "' is a stale FUSE mount (Transport endpoint is not"
                        + " connected), probably left by a daemon that was killed; clean it with: fusermount -u " + mp);
            }
            throw new FuseMountException("--fuse: cannot use mount point '" + mp + "': " + reason);
        } catch (IOException e) {
            throw new FuseMountException("--fuse: cannot use mount point '" + mp + "': " + e.getMessage());
        }
        MountTable.typeAt(mp).ifPresent(type -> {
            if (type.startsWith("fuse")) {
                throw new FuseMountException("--fuse: '" + mp + "' is already a FUSE mount (" + type
                        + "); if no daemon serves it any more, unmount it with: fusermount -u " + mp);
            }
        });
    }

    private void awaitMounted() {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MOUNT_TIMEOUT_MS);
        while (System.nanoTime() < deadline) {
            if (MountTable.typeAt(mountPoint).filter(t -> t.equals("fuse.stratad")).isPresent()) {
                return;
            }
            if (!loop.isAlive()) {
                Throwable f = loopFailure;
                Log.trace(f);
                throw new FuseMountException("--fuse: could not mount '" + mountPoint + "'"
                        + (f == null ? "" : ": " + rootMessage(f)) + " (libfuse's message, if any, is above)");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        unmountQuietly();
        throw new FuseMountException("--fuse: '" + mountPoint + "' did not appear as mounted in time");
    }

    private static String rootMessage(Throwable t) {
        Throwable c = t;
        while (c.getCause() != null) {
            c = c.getCause();
        }
        return c.getMessage() == null ? c.toString() : c.getMessage();
    }

    /**
     * Unmounts and waits (a few seconds at most) for libfuse's loop to end. A mount still in use
     * is detached lazily ({@code fusermount -u -z}), with a warning.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        String mp = mountPoint.toString();
        // fusermount is fuse 2's name and, on Debian, fuse3's compatibility link; root can also umount.
        if (!runQuietly("fusermount", "-u", mp) && !runQuietly("fusermount3", "-u", mp) && !runQuietly("umount", mp)) {
            Log.warn("FUSE: '" + mountPoint + "' is busy; detaching it lazily (it disappears when the last file is closed)");
            if (!runQuietly("fusermount", "-u", "-z", mp) && !runQuietly("fusermount3", "-u", "-z", mp)) {
                runQuietly("umount", "-l", mp);
            }
        }
        view.markUnmounted();
        try {
            loop.join(UNMOUNT_WAIT_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Log.info("FUSE: unmounted " + mountPoint);
    }

    private void unmountQuietly() {
        if (!runQuietly("fusermount", "-u", "-z", mountPoint.toString())) {
            runQuietly("umount", "-l", mountPoint.toString());
        }
        view.markUnmounted();
    }

    private static boolean runQuietly(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static long mtimeOf(String file) {
        try {
            return Files.getLastModifiedTime(Path.of(file)).toMillis() / 1000;
        } catch (IOException | RuntimeException e) {
            return System.currentTimeMillis() / 1000;
        }
    }

    /** This process's uid or gid, from the owner of /proc/self (no native call needed). */
    private static long unixId(String which) {
        try {
            Object v = Files.getAttribute(Path.of("/proc/self"), "unix:" + which);
            return ((Number) v).longValue();
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** A mount that could not be made; the message is one line for the user. */
    public static final class FuseMountException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public FuseMountException(String message) {
            super(message);
        }
    }
}
