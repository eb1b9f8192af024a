package dev.strata.engine.storage;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * {@link Storage} over a host file: positional I/O through one {@link FileChannel} (thread-safe,
 * no shared position) plus a second, query-only descriptor for {@code SEEK_DATA}/{@code SEEK_HOLE}
 * and {@code fstat}.
 */
public final class FileStorage implements Storage {
    private final String name;
    private final Path path;
    private final FileChannel channel;
    private final boolean readOnly;
    /** Query-only descriptor, opened on first use; -1 = unavailable, -2 = not opened yet. */
    private int queryFd = NOT_OPENED;
    private static final int NOT_OPENED = -2;
    private boolean closed;
    /** The last data run and hole {@link #allocationAt} found; null when unknown or stale. */
    private volatile KnownRun lastData;
    private volatile KnownRun lastHole;
    /** This storage's claim on the file ({@link #lock}); none until asked. */
    private HostLocks.Claim claim = HostLocks.Claim.NONE;

    private FileStorage(String name, Path path, FileChannel channel, boolean readOnly) {
        this.name = name;
        this.path = path;
        this.channel = channel;
        this.readOnly = readOnly;
    }

    /**
     * Starts binding the native calls behind {@link #allocationAt} and {@link #allocatedSize}
     * on a background thread, so that a short-lived process does not wait for them later.
     */
    public static void prepareHostQueries() {
        HostFiles.prepare();
    }

    private synchronized int queryFd() {
        if (queryFd == NOT_OPENED && !closed) {
            queryFd = HostFiles.openForQueries(path.toString(), !readOnly);
        }
        return queryFd;
    }

    /**
     * Opens the host file {@code name} (resolved against the current directory).
     *
     * @param readOnly open without write access; writes then fail with EPERM
     * @throws StrataException ENOENT/EACCES/EIO with qemu's wording
     *         ("Could not open 'x': No such file or directory")
     */
    public static FileStorage open(String name, boolean readOnly) {
        Path path = Path.of(name);
        if (java.nio.file.Files.isDirectory(path)) {
            // qemu's file-posix refuses anything but regular files (and devices) at open.
            throw new StrataException(ErrorKind.EINVAL, "'file' driver requires '" + name + "' to be a regular file");
        }
        try {
            FileChannel ch = readOnly
                    ? FileChannel.open(path, StandardOpenOption.READ)
                    : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
            return new FileStorage(name, path, ch, readOnly);
        } catch (NoSuchFileException e) {
            throw new StrataException(ErrorKind.ENOENT, "Could not open '" + name + "': No such file or directory");
        } catch (AccessDeniedException e) {
            throw new StrataException(ErrorKind.EACCES, "Could not open '" + name + "': Permission denied");
        } catch (FileSystemException e) {
            String reason = e.getReason() == null ? "Input/output error" : e.getReason();
            if (reason.contains("Is a directory")) {
                throw new StrataException(ErrorKind.EINVAL, "Could not open '" + name + "': Is a directory");
            }
            throw new StrataException(ErrorKind.EIO, "Could not open '" + name + "': " + reason);
        } catch (IOException e) {
            throw new StrataException(ErrorKind.EIO, "Could not open '" + name + "': " + e.getMessage());
        }
    }

    @Override
    public String name() {
        return name;
    }

    /** The host path of this file. */
    public Path path() {
        return path;
    }

    @Override
    public long size() {
        try {
            return channel.size();
        } catch (IOException e) {
            throw ioError("get size of", e);
        }
    }

    @Override
    public long allocatedSize() {
        return HostFiles.allocatedBytes(queryFd());
    }

    @Override
    public boolean isReadOnly() {
        return readOnly;
    }

    @Override
    public void read(ByteBuffer dst, long offset) {
        try {
            long pos = offset;
            while (dst.hasRemaining()) {
                int n = channel.read(dst, pos);
                if (n < 0) {
                    // Past EOF: the rest reads as zeros.
                    while (dst.hasRemaining()) {
                        dst.put((byte) 0);
                    }
                    return;
                }
                pos += n;
            }
        } catch (IOException e) {
            throw ioError("read", e);
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) {
        requireWritable();
        forgetAllocation();
        try {
            long pos = offset;
            while (src.hasRemaining()) {
                pos += channel.write(src, pos);
            }
        } catch (IOException e) {
            throw ioError("write", e);
        }
    }

    @Override
    public void flush() {
        if (readOnly) {
            return;
        }
        try {
            channel.force(true);
        } catch (IOException e) {
            throw ioError("flush", e);
        }
    }

    @Override
    public void truncate(long size) {
        requireWritable();
        forgetAllocation();
        try {
            long current = channel.size();
            if (size < current) {
                channel.truncate(size);
            } else if (size > current) {
                // FileChannel cannot grow a file; ftruncate through RandomAccessFile keeps the
                // new range a hole (a write at the end would allocate its last block).
                try (java.io.RandomAccessFile raf = new java.io.RandomAccessFile(path.toFile(), "rw")) {
                    raf.setLength(size);
                }
                if (current == 0) {
                    // qemu's file-posix allocates the first block of a file it grows from empty
                    // (allocate_first_block), which 'disk size' shows.
                    channel.write(ByteBuffer.allocate(size < FIRST_BLOCK ? 512 : (int) FIRST_BLOCK), 0);
                }
            }
        } catch (IOException e) {
            throw ioError("truncate", e);
        }
    }

    /** {@inheritDoc} Uses fallocate(PUNCH_HOLE|KEEP_SIZE); writes zeros where the host cannot punch. */
    @Override
    public void punchHole(long offset, long length) {
        requireWritable();
        forgetAllocation();
        long end = Math.min(offset + length, size());
        if (end <= offset) {
            return;
        }
        int err = HostFiles.fallocate(queryFd(), HostFiles.FALLOC_PUNCH_HOLE | HostFiles.FALLOC_KEEP_SIZE, offset,
                end - offset);
        if (err != 0) {
            Storage.writeZeros(this, offset, end - offset);
        }
    }

    /** {@inheritDoc} Uses fallocate mode 0; falls back to writing zeros where the host lacks it. */
    @Override
    public void preallocate(long offset, long length) {
        requireWritable();
        forgetAllocation();
        int err = HostFiles.fallocate(queryFd(), 0, offset, length);
        if (err == ENOSPC) {
            // file-posix's handle_aiocb_truncate wording for a failed posix_fallocate
            throw new StrataException(ErrorKind.ENOSPC, "Could not preallocate new data: No space left on device");
        }
        if (err != 0) {
            Storage.super.preallocate(offset, length);
        }
    }

    private static final int ENOSPC = 28;
    private static final long FIRST_BLOCK = 4096;

    /**
     * {@inheritDoc}
     *
     * <p>{@code SEEK_HOLE} may cost time in proportion to the data that follows the offset (tmpfs
     * walks its pages to the next hole), so a reader asking about every request of a large, fully
     * allocated file would pay for the rest of the file each time. The last data run and the last
     * hole found are therefore remembered and answer later questions inside them; writes and
     * truncation through this storage forget them. Changes made to the file by other processes
     * while it is open may go unnoticed, as the file is assumed to be ours (or read-only).
     */
    @Override
    public Allocation allocationAt(long offset, long maxLength) {
        long end = size();
        if (offset >= end) {
            return new Allocation(false, maxLength);
        }
        long limit = Math.min(maxLength, end - offset);
        KnownRun known = lastData;
        if (known == null || !known.contains(offset)) {
            known = lastHole;
        }
        if (known == null || !known.contains(offset)) {
            known = probe(offset, end);
            if (known == null) {
                return new Allocation(true, limit);
            }
            if (known.data()) {
                lastData = known;
            } else {
                lastHole = known;
            }
        }
        if (!known.data() && known.end() >= end) {
            // Trailing hole: nothing but zeros from here on, past the end too.
            return new Allocation(false, maxLength);
        }
        return new Allocation(known.data(), Math.min(limit, known.end() - offset));
    }

    /** The data run or hole around {@code offset} from SEEK_DATA/SEEK_HOLE; null when unknown. */
    private KnownRun probe(long offset, long end) {
        int fd = queryFd();
        long data = HostFiles.seek(fd, offset, HostFiles.SEEK_DATA);
        if (data == HostFiles.NO_MORE) {
            return new KnownRun(offset, end, false);
        }
        if (data == HostFiles.UNKNOWN) {
            return null;
        }
        if (data > offset) {
            return new KnownRun(offset, data, false);
        }
        long hole = HostFiles.seek(fd, offset, HostFiles.SEEK_HOLE);
        if (hole <= offset) {
            return null;
        }
        return new KnownRun(offset, hole, true);
    }

    /** A host range known to be all data or all hole. */
    private record KnownRun(long start, long end, boolean data) {
        boolean contains(long offset) {
            return offset >= start && offset < end;
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Closing a read channel cannot lose data; nothing useful to report.
        } finally {
            synchronized (this) {
                closed = true;
                claim.release();
                claim = HostLocks.Claim.NONE;
                if (queryFd >= 0) {
                    HostFiles.close(queryFd);
                }
                queryFd = -1;
            }
        }
    }

    /**
     * {@inheritDoc}
     *
     * <p>Each open of a file is its own party: two opens of one file in this process conflict
     * as two processes would (see {@link HostLocks}); a second claim through this storage
     * replaces its first.
     */
    @Override
    public synchronized void lock(LockRequest request) {
        if (closed) {
            throw new StrataException(ErrorKind.EIO, "Cannot lock '" + name + "': storage is closed");
        }
        claim = HostLocks.acquire(path, name, request, claim);
    }

    private void forgetAllocation() {
        lastData = null;
        lastHole = null;
    }

    private void requireWritable() {
        if (readOnly) {
            throw new StrataException(ErrorKind.EPERM, "Could not write to '" + name + "': image is read-only");
        }
    }

    private StrataException ioError(String what, IOException e) {
        if (e instanceof ClosedChannelException) {
            return new StrataException(ErrorKind.EIO, "Could not " + what + " '" + name + "': file is closed", e);
        }
        if (String.valueOf(e.getMessage()).contains("No space left on device")) {
            return new StrataException(ErrorKind.ENOSPC, "Could not " + what + " '" + name
                    + "': No space left on device", e);
        }
        return new StrataException(ErrorKind.EIO, "Could not " + what + " '" + name + "': " + e.getMessage(), e);
    }

    @Override
    public String toString() {
        return "FileStorage[" + name + "]";
    }
}
