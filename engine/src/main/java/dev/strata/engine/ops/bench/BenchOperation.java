package dev.strata.engine.ops.bench;

/*
 * Design note: qemu-img bench keeps `depth` asynchronous requests in flight from one thread.
 * The engine is synchronous and thread-safe, so here `depth` workers (at most 64, the size of
 * qemu's own aio=threads pool) each take the next request, run it and come back for another;
 * the requests in flight are the workers inside a call. Offsets follow qemu's sequence: the
 * first at `offset`, each next one `step` further, modulo the image size; a request that does
 * not fit in the image fails with EIO as qemu's block layer fails it.
 *
 * Flushes (--flush-interval): qemu flushes when the number of requests not yet issued reaches a
 * multiple of the interval (and once more when none are left); with draining it first waits for
 * the requests in flight and holds back new ones until the flush is done, without draining the
 * flush simply runs beside them. Taking a request, the issue counter and the drain all go
 * through one monitor, which is cheap next to a request.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.image.Image;
import dev.strata.engine.storage.IoBuffers;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** Runs a {@code qemu-img bench} workload on an open image. */
public final class BenchOperation {
    /** Most worker threads, as qemu's thread pool for aio=threads. */
    static final int MAX_WORKERS = 64;

    private final Image image;
    private final BenchSettings s;
    private final long size;

    // Guarded by `this`.
    private int issued;
    private int inFlight;
    private long nextOffset;
    private boolean draining;
    private int lastFlushAt;
    private BenchFailure failure;

    private BenchOperation(Image image, BenchSettings settings) {
        this.image = image;
        this.s = settings;
        this.size = image.size();
        this.nextOffset = settings.offset();
    }

    /**
     * Sends the requests and returns the wall time they took, in nanoseconds.
     *
     * @throws BenchFailure when a request or flush fails (the run stops there)
     * @throws IllegalArgumentException when depth is 0 and there are requests to send (qemu-img
     *         would wait forever)
     */
    public static long run(Image image, BenchSettings settings) {
        if (settings.depth() <= 0 && settings.count() > 0) {
            throw new IllegalArgumentException("queue depth 0 can never send a request");
        }
        return new BenchOperation(image, settings).run();
    }

    private long run() {
        int workers = (int) Math.min(Math.min(s.depth(), MAX_WORKERS), Math.max(s.count(), 1));
        List<Thread> threads = new ArrayList<>(workers);
        long start = System.nanoTime();
        for (int i = 0; i < workers; i++) {
            Thread t = new Thread(this::work, "bench-" + i);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        boolean interrupted = false;
        for (Thread t : threads) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        long elapsed = System.nanoTime() - start;
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            if (failure != null) {
                throw failure;
            }
        }
        return elapsed;
    }

    private void work() {
        ByteBuffer buf = IoBuffers.allocate(Math.max(s.bufferSize(), 1));
        if (s.write()) {
            byte p = (byte) s.pattern();
            for (int i = 0; i < buf.capacity(); i++) {
                buf.put(i, p);
            }
        }
        while (true) {
            long offset;
            boolean flushBeside = false;
            synchronized (this) {
                offset = -1;
                while (failure == null) {
                    if (draining) {
                        waitHere();
                        continue;
                    }
                    if (flushDue()) {
                        lastFlushAt = issued;
                        if (s.drainOnFlush()) {
                            drainAndFlush();
                            continue;
                        }
                        flushBeside = true;
                    }
                    if (issued < s.count()) {
                        offset = nextOffset;
                        // uint64_t arithmetic as in qemu; an empty image keeps the offset (qemu divides by zero).
                        nextOffset = size == 0 ? nextOffset : Long.remainderUnsigned(nextOffset + s.step(), size);
                        issued++;
                        inFlight++;
                    }
                    break;
                }
            }
            if (flushBeside) {
                flushBeside();
            }
            if (offset < 0) {
                return;
            }
            try {
                request(buf, offset);
            } catch (StrataException e) {
                fail(new BenchFailure(false, e));
            } finally {
                synchronized (this) {
                    inFlight--;
                    if (inFlight == 0) {
                        notifyAll();
                    }
                }
            }
        }
    }

    /** Whether a flush belongs before the next request (or after the last). Holds `this`. */
    private boolean flushDue() {
        return s.flushInterval() > 0 && issued > 0 && issued != lastFlushAt
                && (s.count() - issued) % s.flushInterval() == 0;
    }

    /** Waits for the requests in flight, then flushes; new requests wait meanwhile. Holds `this`. */
    private void drainAndFlush() {
        draining = true;
        try {
            while (inFlight > 0) {
                waitHere();
            }
            if (failure == null) {
                image.flush();
            }
        } catch (StrataException e) {
            failure = failure != null ? failure : new BenchFailure(false, e);
        } finally {
            draining = false;
            notifyAll();
        }
    }

    private void flushBeside() {
        try {
            image.flush();
        } catch (StrataException e) {
            fail(new BenchFailure(true, e));
        }
    }

    private void request(ByteBuffer buf, long offset) {
        int length = s.bufferSize();
        // qemu's blk_check_byte_request: the whole request must lie inside the image.
        if (offset > size || size - offset < length) {
            throw new StrataException(ErrorKind.EIO, "request at " + offset + " of " + length
                    + " bytes is beyond the end of the image (" + size + " bytes)");
        }
        if (length == 0) {
            return;
        }
        buf.clear().limit(length);
        if (s.write()) {
            image.write(buf, offset);
        } else {
            image.read(buf, offset);
        }
    }

    private synchronized void fail(BenchFailure f) {
        if (failure == null) {
            failure = f;
        }
        notifyAll();
    }

    private void waitHere() {
        try {
            wait();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failure = failure != null ? failure : new BenchFailure(false,
                    new StrataException(ErrorKind.EIO, "interrupted"));
        }
    }
}
