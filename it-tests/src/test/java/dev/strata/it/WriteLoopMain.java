package dev.strata.it;

/*
 * Design note: the child process of Qcow2CrashTest. It opens one image read-write through the
 * engine and runs an endless, seeded loop of writes, write-zeroes and discards from several
 * threads until it is killed. Each thread owns the 1 MiB stripes whose index modulo the thread
 * count is its number, so the content of every byte follows one thread's operations in order.
 * Before operation i of thread t starts it journals "S t i"; after a flush that began when
 * operations 0..n-1 of thread t had completed it journals "D t n" (those are durable). The
 * journal is a file written with one unbuffered write(2) per line, so every line written
 * before the kill survives it (lines sent down a pipe were seen to go missing when the JVM
 * reading them noticed the exit). The operations themselves come from {@link #op}, which the
 * test calls with the same seed to rebuild what the image must hold.
 */

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;

/** Runs random writes on an image until killed; see the design note for the output lines. */
public final class WriteLoopMain {
    /** Guest bytes each thread owns per stripe (stripes alternate between threads). */
    static final long STRIPE = 1L << 20;
    static final int WRITE = 0;
    static final int ZEROES = 1;
    static final int DISCARD = 2;

    private WriteLoopMain() {
    }

    /** One operation: kind, guest offset, length, pattern byte (writes only). */
    record Op(int kind, long offset, long length, byte pattern) {
    }

    /** Operations of thread {@code thread}, in order, for an image of {@code size} bytes. */
    static Random random(long seed, int thread) {
        return new Random(seed * 1_000_003L + thread);
    }

    /** The next operation of the thread whose generator is {@code r}. */
    static Op op(Random r, int thread, int threads, long size, int cluster) {
        long stripes = size / STRIPE;
        long mine = (stripes - thread + threads - 1) / threads;
        long stripe = thread + threads * (long) r.nextInt((int) mine);
        int k = r.nextInt(10);
        int kind = k < 7 ? WRITE : k < 9 ? ZEROES : DISCARD;
        long len = r.nextInt(3) == 0 ? 1 + r.nextInt(3 * cluster)
                : 512L * (1 + r.nextInt(Math.max(1, 6 * cluster / 512)));
        len = Math.min(len, STRIPE);
        long within = r.nextInt(2) == 0 ? r.nextInt((int) STRIPE) : 512L * r.nextInt((int) (STRIPE / 512));
        len = Math.min(len, STRIPE - within);
        if (len == 0) {
            len = 1;
            within = STRIPE - 1;
        }
        byte pattern = (byte) (1 + r.nextInt(254));
        return new Op(kind, stripe * STRIPE + within, len, pattern);
    }

    /** Applies {@code op} to {@code image}. */
    static void apply(Image image, Op op) {
        switch (op.kind()) {
            case WRITE -> {
                byte[] b = new byte[(int) op.length()];
                Arrays.fill(b, op.pattern());
                image.write(ByteBuffer.wrap(b), op.offset());
            }
            case ZEROES -> image.writeZeroes(op.offset(), op.length(), (op.pattern() & 1) == 0);
            default -> image.discard(op.offset(), op.length());
        }
    }

    /** Arguments: image, seed, threads, cluster size, journal file. */
    public static void main(String[] args) throws Exception {
        String name = args[0];
        long seed = Long.parseLong(args[1]);
        int threads = Integer.parseInt(args[2]);
        int cluster = Integer.parseInt(args[3]);
        FileOutputStream out = new FileOutputStream(args[4]);
        Image image = ChainOpener.standard().open(name, "qcow2", new OpenOptions(false, false, false));
        long size = image.size();
        Thread[] workers = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            int thread = t;
            workers[t] = new Thread(() -> {
                Random r = random(seed, thread);
                for (int i = 0; ; i++) {
                    Op op = op(r, thread, threads, size, cluster);
                    line(out, "S " + thread + " " + i);
                    apply(image, op);
                    if (i % 3 == 2) {
                        image.flush();
                        line(out, "D " + thread + " " + (i + 1));
                    }
                }
            });
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
    }

    private static void line(FileOutputStream out, String s) {
        byte[] b = (s + "\n").getBytes(StandardCharsets.US_ASCII);
        synchronized (out) {
            try {
                out.write(b);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
