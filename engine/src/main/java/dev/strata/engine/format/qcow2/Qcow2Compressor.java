package dev.strata.engine.format.qcow2;

/*
 * Design note: the encoding side of qcow2 compressed clusters, mirroring qemu's
 * qcow2_compress / qcow2_zstd_compress so that qemu can read what we write.
 *
 * zlib: qemu inflates with a raw-deflate 4 KiB window (inflateInit2(-12)), so a stream made
 * with java.util.zip.Deflater (always a 32 KiB window) may hold back-references qemu rejects.
 * We therefore call the system's native zlib (libz.so.1) through jffi's fixed-signature
 * invokers (no run-time code generation, as HostFiles does for libc), with qemu's parameters:
 * deflateInit2(Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, memLevel 9, Z_DEFAULT_STRATEGY) and one
 * deflate(Z_FINISH). Each thread keeps one natively allocated z_stream plus input/output
 * buffers and rewinds it with deflateReset (qemu re-initialises per cluster; the stream is the
 * same). Java arrays are copied in and out of the native buffers: the copies are small next
 * to deflate itself. A Cleaner frees a thread's native state once the thread is gone.
 *
 * zstd: one frame from ZSTD_compressStream2(ZSTD_e_end) at the default level, through
 * zstd-jni's streaming call; a frame that is not finished after that one call means the output
 * did not fit, exactly qemu's -ENOMEM case.
 */

import com.github.luben.zstd.EndDirective;
import com.github.luben.zstd.ZstdCompressCtx;
import com.kenai.jffi.CallContext;
import com.kenai.jffi.CallingConvention;
import com.kenai.jffi.Function;
import com.kenai.jffi.HeapInvocationBuffer;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.Library;
import com.kenai.jffi.MemoryIO;
import com.kenai.jffi.Type;
import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;

/** Encoders of qcow2 compressed clusters (zlib with qemu's 4 KiB window, zstd). */
public final class Qcow2Compressor {
    /** zlib constants (zlib.h). */
    private static final int Z_OK = 0;
    private static final int Z_STREAM_END = 1;
    private static final int Z_BUF_ERROR = -5;
    private static final int Z_FINISH = 4;
    private static final int Z_DEFLATED = 8;
    private static final int Z_DEFAULT_COMPRESSION = -1;
    private static final int Z_DEFAULT_STRATEGY = 0;
    /** qemu's parameters: raw deflate with a 4 KiB window, memLevel 9. */
    private static final int WINDOW_BITS = -12;
    private static final int MEM_LEVEL = 9;

    /** struct z_stream on LP64 (x86_64, aarch64): field offsets and size. */
    private static final int NEXT_IN = 0;
    private static final int AVAIL_IN = 8;
    private static final int NEXT_OUT = 24;
    private static final int AVAIL_OUT = 32;
    private static final int Z_STREAM_SIZE = 112;

    private static final MemoryIO MEMORY = MemoryIO.getInstance();
    private static final Cleaner CLEANER = Cleaner.create();

    private static final ThreadLocal<ZstdCompressCtx> ZSTD = ThreadLocal.withInitial(ZstdCompressCtx::new);
    private static final ThreadLocal<DeflateStream> DEFLATE = new ThreadLocal<>();

    private Qcow2Compressor() {
    }

    /**
     * Compresses {@code srcLength} bytes of {@code src} with qcow2 compression type
     * {@code type} ({@link Qcow2Compression#TYPE_ZLIB} / {@link Qcow2Compression#TYPE_ZSTD});
     * returns the number of bytes written to {@code dst}, or -1 if the compressed form does not
     * fit in {@code dst.length}. Thread-safe; compressor state reused per thread.
     *
     * @throws StrataException ENOTSUP for an unknown type or when native zlib is not
     *         available; EIO when the compressor itself fails
     */
    public static int compress(int type, byte[] src, int srcLength, byte[] dst) {
        if (srcLength < 0 || srcLength > src.length) {
            throw new IllegalArgumentException("srcLength " + srcLength + " outside the source array");
        }
        return switch (type) {
            case Qcow2Compression.TYPE_ZLIB -> deflate(src, srcLength, dst);
            case Qcow2Compression.TYPE_ZSTD -> zstd(src, srcLength, dst);
            default -> throw new StrataException(ErrorKind.ENOTSUP, "Unknown compression type " + type);
        };
    }

    private static int zstd(byte[] src, int srcLength, byte[] dst) {
        ZstdCompressCtx ctx = ZSTD.get();
        ctx.reset();
        ByteBuffer in = ByteBuffer.wrap(src, 0, srcLength);
        ByteBuffer out = ByteBuffer.wrap(dst);
        boolean finished;
        try {
            finished = ctx.compressByteBufferStream(out, in, EndDirective.END);
        } catch (RuntimeException e) {
            throw new StrataException(ErrorKind.EIO, "Could not compress cluster (zstd): " + e.getMessage(), e);
        }
        return finished ? out.position() : -1;
    }

    private static int deflate(byte[] src, int srcLength, byte[] dst) {
        DeflateStream stream = DEFLATE.get();
        if (stream == null) {
            stream = new DeflateStream(Zlib.get());
            DEFLATE.set(stream);
        }
        return stream.compress(src, srcLength, dst);
    }

    /** The bound zlib entry points; {@link #get} fails with ENOTSUP when libz is missing. */
    private record Zlib(Function deflateInit2, CallContext oneArg, CallContext twoArgs, long deflate,
                        long deflateReset, long deflateEnd, long version) {
        private static final Object LOCK = new Object();
        private static Zlib bound;
        private static String failure;

        static Zlib get() {
            synchronized (LOCK) {
                if (bound == null && failure == null) {
                    try {
                        bound = bind();
                    } catch (LinkageError | RuntimeException e) {
                        failure = e.getMessage() == null ? e.toString() : e.getMessage();
                    }
                }
                if (bound == null) {
                    throw new StrataException(ErrorKind.ENOTSUP, "zlib compression is not available: " + failure);
                }
                return bound;
            }
        }

        private static Zlib bind() {
            Library libz = Library.getCachedInstance("libz.so.1", Library.LAZY | Library.LOCAL);
            if (libz == null) {
                throw new IllegalStateException("cannot load libz.so.1: " + Library.getLastError());
            }
            Function init = new Function(symbol(libz, "deflateInit2_"), Type.SINT32, Type.POINTER, Type.SINT32,
                    Type.SINT32, Type.SINT32, Type.SINT32, Type.SINT32, Type.POINTER, Type.SINT32);
            CallContext one = CallContext.getCallContext(Type.SINT32, new Type[] {Type.POINTER},
                    CallingConvention.DEFAULT, false);
            CallContext two = CallContext.getCallContext(Type.SINT32, new Type[] {Type.POINTER, Type.SINT32},
                    CallingConvention.DEFAULT, false);
            CallContext none = CallContext.getCallContext(Type.POINTER, new Type[0], CallingConvention.DEFAULT, false);
            long version = Invoker.getInstance().invokeL0(none, symbol(libz, "zlibVersion"));
            if (version == 0) {
                throw new IllegalStateException("zlibVersion() returned NULL");
            }
            return new Zlib(init, one, two, symbol(libz, "deflate"), symbol(libz, "deflateReset"),
                    symbol(libz, "deflateEnd"), version);
        }

        private static long symbol(Library lib, String name) {
            long address = lib.getSymbolAddress(name);
            if (address == 0) {
                throw new IllegalStateException("libz.so.1 has no symbol " + name);
            }
            return address;
        }
    }

    /**
     * The native memory of one thread's deflate stream: the z_stream and the two buffers.
     * Mutable only by its owning thread; freed by the Cleaner after that thread is gone.
     */
    private static final class NativeBlock implements Runnable {
        private final Zlib zlib;
        final long zstream;
        long in;
        int inCapacity;
        long out;
        int outCapacity;

        NativeBlock(Zlib zlib, long zstream) {
            this.zlib = zlib;
            this.zstream = zstream;
        }

        void growInput(int size) {
            if (in != 0) {
                MEMORY.freeMemory(in);
                in = 0;
                inCapacity = 0;
            }
            in = allocate(size);
            inCapacity = size;
        }

        void growOutput(int size) {
            if (out != 0) {
                MEMORY.freeMemory(out);
                out = 0;
                outCapacity = 0;
            }
            out = allocate(size);
            outCapacity = size;
        }

        private static long allocate(int size) {
            long address = MEMORY.allocateMemory(size, false);
            if (address == 0) {
                throw new StrataException(ErrorKind.EIO, "Could not compress cluster (zlib): out of memory");
            }
            return address;
        }

        @Override
        public void run() {
            Invoker.getInstance().invokeL1(zlib.oneArg(), zlib.deflateEnd(), zstream);
            MEMORY.freeMemory(zstream);
            if (in != 0) {
                MEMORY.freeMemory(in);
            }
            if (out != 0) {
                MEMORY.freeMemory(out);
            }
        }
    }

    /** One thread's deflate stream with qemu's parameters. */
    private static final class DeflateStream {
        private final Zlib zlib;
        private final NativeBlock block;

        DeflateStream(Zlib zlib) {
            this.zlib = zlib;
            long zstream = MEMORY.allocateMemory(Z_STREAM_SIZE, true);
            if (zstream == 0) {
                throw new StrataException(ErrorKind.ENOTSUP, "zlib compression is not available: out of memory");
            }
            HeapInvocationBuffer args = new HeapInvocationBuffer(zlib.deflateInit2());
            args.putAddress(zstream);
            args.putInt(Z_DEFAULT_COMPRESSION);
            args.putInt(Z_DEFLATED);
            args.putInt(WINDOW_BITS);
            args.putInt(MEM_LEVEL);
            args.putInt(Z_DEFAULT_STRATEGY);
            args.putAddress(zlib.version());
            args.putInt(Z_STREAM_SIZE);
            int r = Invoker.getInstance().invokeInt(zlib.deflateInit2(), args);
            if (r != Z_OK) {
                MEMORY.freeMemory(zstream);
                throw new StrataException(ErrorKind.ENOTSUP,
                        "zlib compression is not available: deflateInit2 failed (" + r + ")");
            }
            this.block = new NativeBlock(zlib, zstream);
            CLEANER.register(this, block);
        }

        int compress(byte[] src, int srcLength, byte[] dst) {
            NativeBlock b = block;
            if (b.inCapacity < srcLength || b.in == 0) {
                b.growInput(Math.max(srcLength, 1));
            }
            if (b.outCapacity < dst.length || b.out == 0) {
                b.growOutput(Math.max(dst.length, 1));
            }
            Invoker invoker = Invoker.getInstance();
            int r = (int) invoker.invokeL1(zlib.oneArg(), zlib.deflateReset(), b.zstream);
            if (r != Z_OK) {
                throw new StrataException(ErrorKind.EIO, "Could not compress cluster (zlib): deflateReset failed (" + r + ")");
            }
            MEMORY.putByteArray(b.in, src, 0, srcLength);
            MEMORY.putAddress(b.zstream + NEXT_IN, b.in);
            MEMORY.putInt(b.zstream + AVAIL_IN, srcLength);
            MEMORY.putAddress(b.zstream + NEXT_OUT, b.out);
            MEMORY.putInt(b.zstream + AVAIL_OUT, dst.length);
            r = (int) invoker.invokeL2(zlib.twoArgs(), zlib.deflate(), b.zstream, Z_FINISH);
            if (r == Z_STREAM_END) {
                int produced = dst.length - MEMORY.getInt(b.zstream + AVAIL_OUT);
                MEMORY.getByteArray(b.out, dst, 0, produced);
                return produced;
            }
            if (r == Z_OK || r == Z_BUF_ERROR) {
                return -1;
            }
            throw new StrataException(ErrorKind.EIO, "Could not compress cluster (zlib): deflate failed (" + r + ")");
        }
    }
}
