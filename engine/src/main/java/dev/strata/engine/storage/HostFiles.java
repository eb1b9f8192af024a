package dev.strata.engine.storage;

import com.kenai.jffi.ArrayFlags;
import com.kenai.jffi.CallContext;
import com.kenai.jffi.CallingConvention;
import com.kenai.jffi.Function;
import com.kenai.jffi.HeapInvocationBuffer;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.LastError;
import com.kenai.jffi.Library;
import com.kenai.jffi.Type;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;

/**
 * The few libc calls Java NIO lacks: {@code lseek} with {@code SEEK_DATA}/{@code SEEK_HOLE}
 * (to find holes in sparse files), {@code fstat}'s {@code st_blocks} (what qemu-img calls
 * "disk size") and {@code fallocate} (punching holes, reserving space).
 *
 * <p>Bound through jffi directly rather than jnr-ffi: jnr-ffi generates its glue with ASM at
 * run time, which cost a short-lived CLI about 240 ms of start-up; jffi's fixed-signature
 * invokers need no code generation. Binding starts on a background thread the first time this
 * class is touched ({@link #prepare}), so the native library loads while the caller goes on.
 * When libc cannot be bound (not Linux) every query answers "unknown" and callers treat files
 * as fully allocated.
 */
final class HostFiles {
    static final int SEEK_DATA = 3;
    static final int SEEK_HOLE = 4;
    private static final int O_RDONLY = 0;
    private static final int O_RDWR = 2;
    /** fallocate modes. */
    static final int FALLOC_KEEP_SIZE = 0x01;
    static final int FALLOC_PUNCH_HOLE = 0x02;
    /** fallocate result when the call could not be made at all (no libc). */
    static final int NO_CALL = -1;
    private static final int O_CLOEXEC = 0x80000;
    private static final int ENXIO = 6;
    /** Offset of {@code st_blocks} in struct stat: 64 on both x86_64 and aarch64 Linux. */
    private static final int ST_BLOCKS_OFFSET = 64;
    private static final int STAT_SIZE = 256;

    /** Result of {@link #seek} when the offset is past the last data (ENXIO). */
    static final long NO_MORE = -2;
    /** Result of {@link #seek} when the host cannot tell (no support, other error). */
    static final long UNKNOWN = -1;

    /** The bound functions, or null when libc is not available. */
    private record LibC(Function open, Function close, CallContext lseekContext, long lseekAddress,
                        Function fstat, CallContext fallocateContext, long fallocateAddress, Function fcntl) {
    }

    /**
     * The binding, run on a thread of its own as soon as the class is touched: a plain thread
     * rather than CompletableFuture's common pool, whose set-up alone cost a few milliseconds of
     * the main thread's start-up. The task is a named class, not a method reference: this is the
     * first thing a command does, and the first lambda of a JVM sets up java.lang.invoke (about
     * 3 ms), which would hold back the start of the binding every command then waits for.
     */
    private static final FutureTask<LibC> LIBC = new FutureTask<>(new Binding());

    /**
     * Calls {@link #bind}. Other start-up code points here for the rule: a lambda or method
     * reference is linked at its first use (an invokedynamic bootstrap, run by the interpreter:
     * a fraction of a millisecond each, and each of several threads that reach it together pays
     * it), so code that every command of a kind runs uses named or anonymous classes instead.
     * {@code STRATA_JAVA_OPTS=-Xlog:methodhandles+indy=debug:file=F} lists the call sites a command
     * links; a convert, a commit, info and map link none of strata's.
     */
    private static final class Binding implements Callable<LibC> {
        @Override
        public LibC call() {
            return bind();
        }
    }

    static {
        Thread binder = new Thread(LIBC, "strata-libc-bind");
        binder.setDaemon(true);
        binder.start();
    }

    private HostFiles() {
    }

    /** Starts binding libc in the background (idempotent; the class initialiser already did). */
    static void prepare() {
        // Touching the class started the binding.
    }

    private static LibC bind() {
        if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
            return null;
        }
        try {
            Library libc = Library.getCachedInstance("libc.so.6", Library.LAZY | Library.LOCAL);
            if (libc == null) {
                return null;
            }
            Function open = new Function(libc.getSymbolAddress("open"), Type.SINT32, Type.POINTER, Type.SINT32);
            Function close = new Function(libc.getSymbolAddress("close"), Type.SINT32, Type.SINT32);
            CallContext lseek = CallContext.getCallContext(Type.SINT64,
                    new Type[] {Type.SINT32, Type.SINT64, Type.SINT32}, CallingConvention.DEFAULT, true);
            Function fstat = new Function(libc.getSymbolAddress("fstat"), Type.SINT32, Type.SINT32, Type.POINTER);
            CallContext fallocate = CallContext.getCallContext(Type.SINT32,
                    new Type[] {Type.SINT32, Type.SINT32, Type.SINT64, Type.SINT64}, CallingConvention.DEFAULT, true);
            Function fcntl = new Function(libc.getSymbolAddress("fcntl"), Type.SINT32, Type.SINT32, Type.SINT32,
                    Type.POINTER);
            return new LibC(open, close, lseek, libc.getSymbolAddress("lseek"), fstat, fallocate,
                    libc.getSymbolAddress("fallocate"), fcntl);
        } catch (LinkageError | RuntimeException e) {
            return null;
        }
    }

    private static LibC libc() {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return LIBC.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    // bind() catches what it expects; anything else is a bug worth seeing.
                    throw new IllegalStateException("binding libc failed", e.getCause());
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Opens {@code path} for queries (and, when {@code writable}, for fallocate); returns -1 when
     * unavailable.
     */
    static int openForQueries(String path, boolean writable) {
        LibC c = libc();
        if (c == null) {
            return -1;
        }
        byte[] name = path.getBytes(StandardCharsets.UTF_8);
        HeapInvocationBuffer args = new HeapInvocationBuffer(c.open());
        args.putArray(name, 0, name.length, ArrayFlags.IN | ArrayFlags.NULTERMINATE);
        args.putInt((writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        return Invoker.getInstance().invokeInt(c.open(), args);
    }

    static void close(int fd) {
        LibC c = fd >= 0 ? libc() : null;
        if (c != null) {
            HeapInvocationBuffer args = new HeapInvocationBuffer(c.close());
            args.putInt(fd);
            Invoker.getInstance().invokeInt(c.close(), args);
        }
    }

    /**
     * {@code lseek(fd, offset, whence)}: the resulting offset, {@link #NO_MORE} on ENXIO,
     * {@link #UNKNOWN} on any other failure.
     */
    static long seek(int fd, long offset, int whence) {
        LibC c = fd >= 0 ? libc() : null;
        if (c == null) {
            return UNKNOWN;
        }
        long r = Invoker.getInstance().invokeL3(c.lseekContext(), c.lseekAddress(), fd, offset, whence);
        if (r >= 0) {
            return r;
        }
        return LastError.getInstance().get() == ENXIO ? NO_MORE : UNKNOWN;
    }

    /**
     * {@code fallocate(fd, mode, offset, length)}: 0 on success, the errno on failure, or
     * {@link #NO_CALL} when libc is unavailable.
     */
    static int fallocate(int fd, int mode, long offset, long length) {
        LibC c = fd >= 0 ? libc() : null;
        if (c == null) {
            return NO_CALL;
        }
        long r = Invoker.getInstance().invokeL4(c.fallocateContext(), c.fallocateAddress(), fd, mode, offset, length);
        return (int) r == 0 ? 0 : LastError.getInstance().get();
    }

    /** {@code st_blocks * 512} of the open file, or -1 when unknown. */
    static long allocatedBytes(int fd) {
        LibC c = fd >= 0 ? libc() : null;
        if (c == null) {
            return -1;
        }
        byte[] buf = new byte[STAT_SIZE];
        HeapInvocationBuffer args = new HeapInvocationBuffer(c.fstat());
        args.putInt(fd);
        args.putArray(buf, 0, buf.length, ArrayFlags.OUT);
        if (Invoker.getInstance().invokeInt(c.fstat(), args) != 0) {
            return -1;
        }
        long blocks = 0;
        for (int i = 7; i >= 0; i--) {
            blocks = (blocks << 8) | (buf[ST_BLOCKS_OFFSET + i] & 0xff);
        }
        return blocks * 512;
    }

    /** fcntl commands and lock types for open-file-description locks (Linux, all architectures). */
    private static final int F_OFD_GETLK = 36;
    private static final int F_OFD_SETLK = 37;
    static final short F_RDLCK = 0;
    static final short F_WRLCK = 1;
    static final short F_UNLCK = 2;
    /** sizeof(struct flock) on 64-bit Linux: l_type, l_whence, pad, l_start, l_len, l_pid, pad. */
    private static final int FLOCK_SIZE = 32;

    /** Whether {@link #setLock}/{@link #conflicts} can work (libc bound). */
    static boolean canLock() {
        return libc() != null;
    }

    /**
     * {@code fcntl(fd, F_OFD_SETLK, {type, SEEK_SET, offset, 1})}: takes ({@link #F_RDLCK}) or
     * drops ({@link #F_UNLCK}) a lock on one byte, held by the open file description.
     *
     * @return 0, or the errno
     */
    static int setLock(int fd, short type, long offset) {
        LibC c = libc();
        byte[] flock = flock(type, offset);
        HeapInvocationBuffer args = new HeapInvocationBuffer(c.fcntl());
        args.putInt(fd);
        args.putInt(F_OFD_SETLK);
        args.putArray(flock, 0, flock.length, ArrayFlags.IN);
        int r = Invoker.getInstance().invokeInt(c.fcntl(), args);
        return r == 0 ? 0 : LastError.getInstance().get();
    }

    /**
     * {@code fcntl(fd, F_OFD_GETLK, {F_WRLCK, SEEK_SET, offset, 1})}: whether another open file
     * description (of any process) holds a lock on that byte. Locks held through {@code fd}
     * itself never conflict. A failing call counts as a conflict.
     */
    static boolean conflicts(int fd, long offset) {
        LibC c = libc();
        byte[] flock = flock(F_WRLCK, offset);
        HeapInvocationBuffer args = new HeapInvocationBuffer(c.fcntl());
        args.putInt(fd);
        args.putInt(F_OFD_GETLK);
        args.putArray(flock, 0, flock.length, ArrayFlags.IN | ArrayFlags.OUT);
        if (Invoker.getInstance().invokeInt(c.fcntl(), args) != 0) {
            return true;
        }
        short type = (short) ((flock[0] & 0xff) | (flock[1] & 0xff) << 8);
        return type != F_UNLCK;
    }

    private static byte[] flock(short type, long offset) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(FLOCK_SIZE).order(java.nio.ByteOrder.nativeOrder());
        b.putShort(0, type);
        b.putShort(2, (short) 0); // SEEK_SET
        b.putLong(8, offset);
        b.putLong(16, 1);
        return b.array();
    }
}
