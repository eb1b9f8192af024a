package dev.strata.engine.format.qcow2;

/*
 * Design note: decoding of one compressed cluster, in the calling thread (so concurrent readers
 * decompress in parallel). zlib clusters are raw deflate streams (no zlib header); zstd
 * clusters are one or more zstd frames. Like qemu, a cluster decodes successfully only when it
 * yields exactly one full cluster of output; anything else (a corrupt stream, a stream that
 * ends early, no progress) is EIO. Decoder state is reused per thread.
 */

import com.github.luben.zstd.ZstdDecompressCtx;
import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;

import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/** The compression types of qcow2 and their decoders. */
public final class Qcow2Compression {
    /** compression_type 0: raw deflate. */
    public static final int TYPE_ZLIB = 0;
    /** compression_type 1: zstd. */
    public static final int TYPE_ZSTD = 1;

    // Subclasses rather than ThreadLocal.withInitial(lambda): `info` touches this class, and a
    // lambda costs start-up (see StartupLambdaTest).
    private static final ThreadLocal<Inflater> INFLATERS = new ThreadLocal<>() {
        @Override
        protected Inflater initialValue() {
            return new Inflater(true);
        }
    };
    private static final ThreadLocal<ZstdDecompressCtx> ZSTD = new ThreadLocal<>() {
        @Override
        protected ZstdDecompressCtx initialValue() {
            return new ZstdDecompressCtx();
        }
    };

    private Qcow2Compression() {
    }

    /** qemu's name of a compression type ("zlib", "zstd"). */
    public static String name(int type) {
        return switch (type) {
            case TYPE_ZLIB -> "zlib";
            case TYPE_ZSTD -> "zstd";
            default -> "unknown";
        };
    }

    /**
     * Decodes {@code src} (the compressed bytes of one cluster, possibly followed by unrelated
     * bytes of the same sectors) into exactly {@code dst.length} bytes.
     *
     * @throws StrataException EIO if the data does not decode to a full cluster
     */
    public static void decompress(int type, byte[] src, byte[] dst) {
        boolean ok = switch (type) {
            case TYPE_ZLIB -> inflate(src, dst);
            case TYPE_ZSTD -> unzstd(src, dst);
            default -> false;
        };
        if (!ok) {
            throw new StrataException(ErrorKind.EIO, "Could not decompress cluster ("
                    + name(type) + "): Input/output error");
        }
    }

    private static boolean inflate(byte[] src, byte[] dst) {
        Inflater inf = INFLATERS.get();
        inf.reset();
        inf.setInput(src);
        int produced = 0;
        try {
            while (produced < dst.length) {
                int n = inf.inflate(dst, produced, dst.length - produced);
                if (n == 0) {
                    // Finished early, needs more input than the cluster has, or a dictionary.
                    break;
                }
                produced += n;
            }
        } catch (DataFormatException e) {
            return false;
        }
        return produced == dst.length;
    }

    private static boolean unzstd(byte[] src, byte[] dst) {
        ZstdDecompressCtx ctx = ZSTD.get();
        ctx.reset();
        ByteBuffer in = ByteBuffer.wrap(src);
        ByteBuffer out = ByteBuffer.wrap(dst);
        try {
            while (out.hasRemaining()) {
                int inPos = in.position();
                int outPos = out.position();
                ctx.decompressByteBufferStream(out, in);
                if (in.position() <= inPos && out.position() <= outPos) {
                    return false;
                }
            }
        } catch (RuntimeException e) {
            return false;
        }
        return true;
    }
}
