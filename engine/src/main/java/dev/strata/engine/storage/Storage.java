package dev.strata.engine.storage;

import dev.strata.engine.StrataException;

import java.io.Closeable;
import java.nio.ByteBuffer;

/**
 * Positional bytes of one host object: a host file, or (supplied through a
 * {@link StorageResolver}) something like an NBD export. Implementations are thread-safe: there
 * is no shared position, so any number of threads may read concurrently.
 *
 * <p>All failures are {@link StrataException}s with a qemu-style message.
 */
public interface Storage extends Closeable {

    /**
     * The name this storage was opened under, exactly as the user (or a backing-file
     * reference) spelled it; qemu-img prints this in {@code map} and {@code check}.
     */
    String name();

    /** Current length in bytes. */
    long size();

    /**
     * Bytes the host really allocates for this object (st_blocks * 512 for files), as
     * {@code qemu-img info} reports in "disk size"; -1 when unknown.
     */
    long allocatedSize();

    /** Whether this storage was opened without write access. */
    boolean isReadOnly();

    /**
     * Reads {@code dst.remaining()} bytes starting at {@code offset}. Bytes past the end of the
     * storage read as zeros (qemu's file driver does the same for short reads of the last
     * sector). On return {@code dst} is full.
     */
    void read(ByteBuffer dst, long offset);

    /**
     * Writes all of {@code src} at {@code offset}, extending the object if needed.
     *
     * @throws StrataException EPERM if the storage is read-only
     */
    void write(ByteBuffer src, long offset);

    /** Makes completed writes durable. */
    void flush();

    /** Sets the length; new bytes read as zeros. */
    void truncate(long size);

    /**
     * Makes {@code [offset, offset+length)} read as zeros without changing the size, releasing
     * the host space where the host can (a punched hole); storage that cannot punch holes
     * writes zeros.
     *
     * @throws StrataException EPERM if read-only
     */
    default void punchHole(long offset, long length) {
        writeZeros(this, offset, length);
    }

    /**
     * Reserves host space for {@code [offset, offset+length)}, extending the size if the range
     * goes past the end; bytes not written before read as zeros (fallocate mode 0, qemu's
     * preallocation=falloc). Storage that cannot reserve writes zeros over the part past the
     * current end.
     *
     * @throws StrataException EPERM if read-only, ENOSPC when the host has no room
     */
    default void preallocate(long offset, long length) {
        long end = offset + length;
        long size = size();
        if (end > size) {
            writeZeros(this, Math.max(offset, size), end - Math.max(offset, size));
        }
    }

    /**
     * Grows this storage from its current size to {@code newSize} with zeros written out and
     * flushed, as qemu's file-posix does for preallocation=full (handle_aiocb_truncate). When the
     * zeros cannot be written the old size is restored and the error reads "Could not write zeros
     * for preallocation: STRERROR"; a failed flush, "Could not flush file to disk: STRERROR".
     * Nothing happens when {@code newSize} is not larger.
     */
    default void growWithZeros(long newSize) {
        long old = size();
        if (newSize <= old) {
            return;
        }
        truncate(newSize);
        try {
            writeZeros(this, old, newSize - old);
        } catch (StrataException e) {
            try {
                truncate(old);
            } catch (StrataException ignored) {
                // qemu only reports "Failed to restore old file length"; the write error matters
            }
            throw new StrataException(e.kind(), "Could not write zeros for preallocation: " + e.kind().strerror(), e);
        }
        try {
            flush();
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Could not flush file to disk: " + e.kind().strerror(), e);
        }
    }

    /** Writes {@code length} zero bytes at {@code offset} of {@code storage}, in 1 MiB pieces. */
    static void writeZeros(Storage storage, long offset, long length) {
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int n = (int) Math.min(zeros.capacity(), end - pos);
            storage.write(zeros.clear().limit(n), pos);
            pos += n;
        }
    }

    /**
     * Says whether the bytes at {@code offset} are backed by data or are a hole (and whether
     * they are known to read as zeros), and how far that state lasts (at most {@code maxLength}), from {@code SEEK_DATA}/{@code SEEK_HOLE}
     * on the host. A storage that cannot tell reports everything as data. An offset at or past
     * the end is a hole of {@code maxLength}.
     */
    Allocation allocationAt(long offset, long maxLength);

    /**
     * Claims {@code request} on the object for as long as this storage stays open, replacing
     * any earlier claim made through it, the way qemu negotiates permissions on a file node
     * (image locking). Storage that other programs cannot share (an NBD export) claims nothing.
     *
     * @throws StrataException EBUSY with qemu's wording ("Failed to get \"write\" lock" and the
     *         "Is another process using the image [NAME]?" hint) when another program's claim
     *         conflicts; the storage keeps its earlier claim
     */
    default void lock(LockRequest request) {
    }

    /** Closes the storage; further calls fail. Never throws a checked exception. */
    @Override
    void close();

    /**
     * One run of a host object in one allocation state, as QEMU's protocol drivers answer block
     * status: {@code data} is BDRV_BLOCK_DATA, {@code zero} is BDRV_BLOCK_ZERO. Both may hold at
     * once (an NBD extent that is allocated but known to read as zeros), or neither (an NBD hole
     * the server does not promise reads as zeros). For host files a hole reads as zeros and data
     * is not known to, so {@code zero == !data}.
     *
     * @param data   true when the bytes are allocated (not a hole)
     * @param zero   true when the bytes are known to read as zeros
     * @param length length of the run, greater than zero
     */
    record Allocation(boolean data, boolean zero, long length) {
        public Allocation {
            if (length <= 0) {
                throw new IllegalArgumentException("allocation run must be non-empty");
            }
        }

        /** A host-file run: data, or a hole that reads as zeros. */
        public Allocation(boolean data, long length) {
            this(data, !data, length);
        }
    }
}
