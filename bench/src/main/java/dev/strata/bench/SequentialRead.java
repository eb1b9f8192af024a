package dev.strata.bench;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Sequential-read benchmark main: reads a whole image (its guest view, through the chain) front to
 * back, the way {@code qemu-img convert -O raw} or {@code qemu-img dd} does, and prints one line:
 *
 * <pre>
 * bytes=2147483648 seconds=1.234567 MB/s=1739.50 open_ms=12.3 threads=1 chunk=2097152 format=qcow2 sink=-
 * </pre>
 *
 * <p>Usage: {@code SequentialRead [--threads N] [--chunk BYTES] [--sink FILE] [-f FORMAT] FILE}.
 * Defaults: 1 thread, 2 MiB chunks, no sink (the bytes are dropped, like writing to /dev/null).
 * {@code BYTES} takes a binary suffix ({@code 64k}, {@code 2M}, {@code 1G}). With {@code --sink}
 * each chunk is written to FILE at its guest offset (FILE is created or truncated first), to
 * mirror {@code qemu-img convert -O raw IMG FILE}.
 *
 * <p>How it reads: the image is cut into chunks; each reader thread takes the next chunk index
 * from a shared counter, so with N threads about N consecutive chunks are in flight at once. Each
 * thread reuses one direct buffer for all its chunks. {@code seconds} runs from the first read to
 * the last write (the image open is reported apart as {@code open_ms}; JVM start-up is outside
 * both — time the whole process from the outside to include it). {@code MB/s} is 10^6 bytes per
 * second, as hyperfine and dd count.
 *
 * <p>This is a benchmark, not a test: it checks nothing about the bytes it reads.
 */
public final class SequentialRead {
    private static final String USAGE =
            "usage: SequentialRead [--threads N] [--chunk BYTES] [--sink FILE] [-f FORMAT] FILE";

    private SequentialRead() {
    }

    /** Parsed command line. */
    private record Options(String file, String format, int threads, int chunk, String sink) {
    }

    public static void main(String[] args) {
        Options opt;
        try {
            opt = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("SequentialRead: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        try {
            run(opt);
        } catch (StrataException e) {
            System.err.println("SequentialRead: " + e.getMessage());
            System.exit(1);
        } catch (IOException e) {
            System.err.println("SequentialRead: " + e);
            System.exit(1);
        }
    }

    private static void run(Options opt) throws IOException {
        long openStart = System.nanoTime();
        try (Image image = ChainOpener.standard().open(opt.file(), opt.format(), OpenOptions.readOnlyChain());
             FileChannel sink = opt.sink() == null ? null : FileChannel.open(Path.of(opt.sink()),
                     StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            long size = image.size();
            String format = image.layers().get(0).driver().formatName();
            long start = System.nanoTime();
            readAll(image, sink, size, opt.threads(), opt.chunk());
            long end = System.nanoTime();
            double seconds = (end - start) / 1e9;
            double mbps = seconds > 0 ? size / seconds / 1e6 : 0;
            System.out.printf(Locale.ROOT,
                    "bytes=%d seconds=%.6f MB/s=%.2f open_ms=%.1f threads=%d chunk=%d format=%s sink=%s%n",
                    size, seconds, mbps, (start - openStart) / 1e6, opt.threads(), opt.chunk(), format,
                    opt.sink() == null ? "-" : opt.sink());
        }
    }

    /** Reads [0, size) in chunks with {@code threads} readers; rethrows the first failure. */
    private static void readAll(Image image, FileChannel sink, long size, int threads, int chunk) {
        AtomicLong nextChunk = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Runnable reader = () -> {
            ByteBuffer buf = ByteBuffer.allocateDirect(chunk);
            try {
                while (failure.get() == null) {
                    long offset = nextChunk.getAndIncrement() * chunk;
                    if (offset >= size) {
                        return;
                    }
                    int len = (int) Math.min(chunk, size - offset);
                    buf.clear().limit(len);
                    image.read(buf, offset);
                    if (sink != null) {
                        buf.flip();
                        long pos = offset;
                        while (buf.hasRemaining()) {
                            pos += sink.write(buf, pos);
                        }
                    }
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            }
        };
        if (threads == 1) {
            reader.run();
        } else {
            List<Thread> pool = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                Thread t = new Thread(reader, "reader-" + i);
                pool.add(t);
                t.start();
            }
            for (Thread t : pool) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for readers", e);
                }
            }
        }
        Throwable t = failure.get();
        if (t instanceof RuntimeException re) {
            throw re;
        } else if (t instanceof Error err) {
            throw err;
        } else if (t != null) {
            // Only sink writes throw checked exceptions.
            throw new StrataException(ErrorKind.EIO, "Could not write to sink: " + t, t);
        }
    }

    private static Options parse(String[] args) {
        String file = null;
        String format = null;
        String sink = null;
        int threads = 1;
        long chunk = 2L << 20;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--threads" -> threads = (int) parseSize(value(args, ++i, a));
                case "--chunk" -> chunk = parseSize(value(args, ++i, a));
                case "--sink" -> sink = value(args, ++i, a);
                case "-f", "--format" -> format = value(args, ++i, a);
                case "-h", "--help" -> {
                    System.out.println(USAGE);
                    System.exit(0);
                }
                default -> {
                    if (a.startsWith("-") && a.length() > 1) {
                        throw new IllegalArgumentException("unknown option " + a);
                    }
                    if (file != null) {
                        throw new IllegalArgumentException("more than one FILE given");
                    }
                    file = a;
                }
            }
        }
        if (file == null) {
            throw new IllegalArgumentException("no FILE given");
        }
        if (threads < 1 || threads > 1024) {
            throw new IllegalArgumentException("--threads must be between 1 and 1024");
        }
        if (chunk < 512 || chunk > (1L << 30)) {
            throw new IllegalArgumentException("--chunk must be between 512 bytes and 1 GiB");
        }
        return new Options(file, format, threads, (int) chunk, sink);
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            throw new IllegalArgumentException(option + " needs a value");
        }
        return args[i];
    }

    /** "4096", "64k", "2M", "1G" (binary multiples). */
    static long parseSize(String s) {
        if (s.isEmpty()) {
            throw new IllegalArgumentException("empty number");
        }
        long mult = switch (Character.toLowerCase(s.charAt(s.length() - 1))) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            default -> 1;
        };
        String digits = mult == 1 ? s : s.substring(0, s.length() - 1);
        try {
            return Math.multiplyExact(Long.parseLong(digits), mult);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new IllegalArgumentException("not a size: " + s);
        }
    }
}
