package dev.strata.engine.storage;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.Out;

/**
 * The few libc calls Java NIO lacks: {@code lseek} with {@code SEEK_DATA}/{@code SEEK_HOLE}
 * (to find holes in sparse files) and {@code fstat}'s {@code st_blocks} (what qemu-img calls
 * "disk size"). Loaded once, lazily; when libc cannot be bound (not Linux) every query
 * answers "unknown" and callers fall back to treating files as fully allocated.
 */
final class HostFiles {
    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;
    private static final int ENXIO = 6;
    /** Offset of {@code st_blocks} in struct stat: 64 on both x86_64 and aarch64 Linux. */
    private static final int ST_BLOCKS_OFFSET = 64;
    private static final int STAT_SIZE = 256;

    /** Result of {@link #seek} when the offset is past the last data (ENXIO). */
    static final long NO_MORE = -2;
    /** Result of {@link #seek} when the host cannot tell (no support, other error). */
    static final long UNKNOWN = -1;

    /** The libc functions we bind. */
    public interface LibC {
        int open(String path, int flags);

        int close(int fd);

        long lseek(int fd, long offset, int whence);

        int fstat(int fd, @Out byte[] statBuffer);
    }

    private static final class Holder {
        static final LibC LIBC = load();
        static final Runtime RUNTIME = LIBC == null ? null : Runtime.getRuntime(LIBC);

        private static LibC load() {
            if (Platform.getNativePlatform().getOS() != Platform.OS.LINUX) {
                return null;
            }
            try {
                return LibraryLoader.create(LibC.class).load("c");
            } catch (LinkageError | RuntimeException e) {
                return null;
            }
        }
    }

    private HostFiles() {
    }

    /** Opens {@code path} read-only for queries; returns -1 when unavailable. */
    static int openForQueries(String path) {
        LibC libc = Holder.LIBC;
        return libc == null ? -1 : libc.open(path, O_RDONLY | O_CLOEXEC);
    }

    static void close(int fd) {
        if (fd >= 0 && Holder.LIBC != null) {
            Holder.LIBC.close(fd);
        }
    }

    /**
     * {@code lseek(fd, offset, whence)}: the resulting offset, {@link #NO_MORE} on ENXIO,
     * {@link #UNKNOWN} on any other failure.
     */
    static long seek(int fd, long offset, int whence) {
        if (fd < 0) {
            return UNKNOWN;
        }
        long r = Holder.LIBC.lseek(fd, offset, whence);
        if (r >= 0) {
            return r;
        }
        return Holder.RUNTIME.getLastError() == ENXIO ? NO_MORE : UNKNOWN;
    }

    /** {@code st_blocks * 512} of the open file, or -1 when unknown. */
    static long allocatedBytes(int fd) {
        if (fd < 0) {
            return -1;
        }
        byte[] buf = new byte[STAT_SIZE];
        if (Holder.LIBC.fstat(fd, buf) != 0) {
            return -1;
        }
        long blocks = 0;
        for (int i = 7; i >= 0; i--) {
            blocks = (blocks << 8) | (buf[ST_BLOCKS_OFFSET + i] & 0xff);
        }
        return blocks * 512;
    }
}
