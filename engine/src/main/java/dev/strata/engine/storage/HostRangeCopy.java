package dev.strata.engine.storage;

/*
 * Design note: copy offloading for convert -C, as qemu's file-posix does it
 * (handle_aiocb_copy_range): copy_file_range(2) with explicit offsets, looped until the whole
 * range is copied; a call that makes no progress (the source ends early) reports ENOSPC, so the
 * caller falls back to buffered I/O, and ENOSYS becomes ENOTSUP. The kernel copies inside the
 * file system (or by splice), so the bytes never enter this process.
 *
 * The descriptors are this class's own (opened by path, the source read-only, the target
 * read-write), not the FileStorage channels: positional copy_file_range needs raw descriptors,
 * and a second descriptor of the same file sees the same page cache. One instance serves one
 * convert; any number of threads may copy through it at once.
 */

import com.kenai.jffi.CallContext;
import com.kenai.jffi.CallingConvention;
import com.kenai.jffi.HeapInvocationBuffer;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.LastError;
import com.kenai.jffi.Library;
import com.kenai.jffi.Type;
import com.kenai.jffi.ArrayFlags;
import com.kenai.jffi.Function;

import java.io.Closeable;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** Copies byte ranges between host files with copy_file_range(2). */
public final class HostRangeCopy implements Closeable {
    /** Result of {@link #copy}: done. */
    public static final int OK = 0;
    private static final int EINTR = 4;
    private static final int ENOSPC = 28;
    private static final int ENOSYS = 38;
    private static final int ENOTSUP = 95;
    private static final int EBADF = 9;

    private static final Function COPY_FILE_RANGE = bind();

    private final Map<Path, Integer> readers = new HashMap<>();
    private final Map<Path, Integer> writers = new HashMap<>();
    private boolean closed;

    private static Function bind() {
        if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
            return null;
        }
        try {
            Library libc = Library.getCachedInstance("libc.so.6", Library.LAZY | Library.LOCAL);
            long address = libc == null ? 0 : libc.getSymbolAddress("copy_file_range");
            if (address == 0) {
                return null;
            }
            CallContext context = CallContext.getCallContext(Type.SINT64, new Type[] {Type.SINT32, Type.POINTER,
                    Type.SINT32, Type.POINTER, Type.UINT64, Type.UINT32}, CallingConvention.DEFAULT, true);
            return new Function(address, context);
        } catch (LinkageError | RuntimeException e) {
            return null;
        }
    }

    /**
     * Copies {@code length} bytes at {@code fromOffset} of {@code from} to {@code toOffset} of
     * {@code to}, in the kernel.
     *
     * @return {@link #OK}, or the errno that stopped the copy (ENOSPC when the source ended
     *         before the range did, ENOTSUP when the host has no copy_file_range); part of the
     *         range may then have been copied already
     */
    public int copy(FileStorage from, long fromOffset, FileStorage to, long toOffset, long length) {
        if (COPY_FILE_RANGE == null) {
            return ENOTSUP;
        }
        int in = descriptor(readers, from.path(), false);
        int out = descriptor(writers, to.path(), true);
        if (in < 0 || out < 0) {
            return EBADF;
        }
        long[] inOffset = {fromOffset};
        long[] outOffset = {toOffset};
        long left = length;
        while (left > 0) {
            HeapInvocationBuffer args = new HeapInvocationBuffer(COPY_FILE_RANGE);
            args.putInt(in);
            args.putArray(inOffset, 0, 1, ArrayFlags.IN | ArrayFlags.OUT);
            args.putInt(out);
            args.putArray(outOffset, 0, 1, ArrayFlags.IN | ArrayFlags.OUT);
            args.putLong(left);
            args.putInt(0);
            long copied = Invoker.getInstance().invokeLong(COPY_FILE_RANGE, args);
            if (copied == 0) {
                return ENOSPC;
            }
            if (copied < 0) {
                int errno = LastError.getInstance().get();
                if (errno == EINTR) {
                    continue;
                }
                return errno == ENOSYS ? ENOTSUP : errno;
            }
            left -= copied;
        }
        return OK;
    }

    private synchronized int descriptor(Map<Path, Integer> open, Path path, boolean writable) {
        if (closed) {
            return -1;
        }
        return open.computeIfAbsent(path, p -> HostFiles.openForQueries(p.toString(), writable));
    }

    /** Closes the descriptors this instance opened. */
    @Override
    public synchronized void close() {
        closed = true;
        readers.values().forEach(HostFiles::close);
        writers.values().forEach(HostFiles::close);
        readers.clear();
        writers.clear();
    }
}
