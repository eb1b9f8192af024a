package dev.strata.engine.ops.commit;

/*
 * Design note: the commit copy as a two-stage pipeline, so reading the guest view and writing
 * the base overlap as they do in qemu's mirror job (up to 16 operations in flight).
 *
 *  - one helper thread runs the planner (the mirror iterations with their block status
 *    queries) and reads the data of every COPY step into a buffer of a small pool (direct
 *    buffers, allocated as first needed); it waits while every buffer is in use;
 *  - the calling thread takes the steps in plan order (next), writes them into the base and
 *    gives the buffer back (release). Writes therefore reach the base in exactly the order a
 *    one-step-at-a-time copy would make them, and allocate the same host clusters; progress and
 *    the speed limit stay on the calling thread;
 *  - a failure of the planner or of a read is handed to the calling thread after the steps
 *    planned before it, at the point where a sequential copy would have failed;
 *  - close() stops the helper (a flag, never Thread.interrupt: an interrupt closes the
 *    FileChannel a read is blocked in) and waits for it, so no read runs after the copy;
 *  - reading is faster than writing, so the helper mostly waits for a free buffer. Once it
 *    has to wait, it waits for half the pool to be free, and the caller wakes it only then (or,
 *    at a barrier, once every step is written), not after every write: a wake-up is a futex
 *    call that may also put the woken thread on the caller's CPU, and one per 1 MiB step cost
 *    the caller 20 ms of a 512 MiB commit. No wake-up is lost: when the caller waits for a
 *    step, every buffer it took has been given back, so the whole pool is free.
 *
 * The planner runs ahead of the writes: it may ask block status of, and read, a range while
 * earlier ranges are being written into the base. The copy never writes a byte that the guest
 * view does not already show there, and the ranges of different steps are disjoint, so what the
 * planner reads does not depend on how far the writes have got. Block status can: a write into
 * part of a base (sub)cluster allocates all of it. Where the next step lies in a (sub)cluster an
 * earlier step wrote, the planner first waits for every step handed out to be written
 * (Sink.awaitWritten), and so sees what a copy one step at a time would see.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.storage.IoBuffers;

import java.io.Closeable;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/** Plans and reads a commit copy on a helper thread while the caller writes it. */
final class CommitReadAhead implements Closeable {

    /** Produces the steps of the copy in order. */
    @FunctionalInterface
    interface Planner {
        /** Hands every step, in order, to {@code out}; returns when the plan is complete. */
        void plan(Sink out);
    }

    /** Where a planner hands its steps. */
    interface Sink {
        /** Takes the next step (for a COPY, its data is read before this returns). */
        void accept(CommitStep step);

        /** Returns once every step accepted so far has been written into the base. */
        void awaitWritten();
    }

    /** Reads {@code dst.remaining()} bytes of the guest view at {@code offset} into {@code dst}. */
    @FunctionalInterface
    interface Reader {
        void read(ByteBuffer dst, long offset);
    }

    /** A planned step and, for a COPY, the buffer holding its data (position 0, limit = length). */
    record Ready(CommitStep step, ByteBuffer data) {
    }

    /** Thrown inside the helper when close() stops it. */
    private static final class Stopped extends RuntimeException {
        Stopped() {
            super(null, null, false, false);
        }
    }

    private final Reader reader;
    private final int maxBuffers;
    private final int bufferSize;
    /** Free buffers at which a helper waiting for one is woken. */
    private final int wakeBatch;
    private final ReentrantLock lock = new ReentrantLock();
    /** The helper waits here: for a free buffer, for the writes, or for close(). */
    private final Condition forHelper = lock.newCondition();
    /** The caller waits here: for a step, or for the end of the plan. */
    private final Condition forCaller = lock.newCondition();
    private final ArrayDeque<ByteBuffer> free = new ArrayDeque<>();
    private final ArrayDeque<Ready> ready = new ArrayDeque<>();
    private final Thread helper;
    private int allocated;
    private long handed;
    private long written;
    private boolean planned;
    private boolean stopped;
    private boolean helperWaitsForBuffer;
    private boolean helperWaitsForWrites;
    private boolean callerWaits;
    private Throwable failure;

    /**
     * Starts planning and reading on a helper thread.
     *
     * @param planner    the steps; COPY steps at most {@code bufferSize} long
     * @param reader     reads a COPY step's data
     * @param maxBuffers how many COPY steps may be read and not yet released
     * @param bufferSize bytes per buffer
     */
    CommitReadAhead(Planner planner, Reader reader, int maxBuffers, int bufferSize) {
        this.reader = reader;
        this.maxBuffers = maxBuffers;
        this.bufferSize = bufferSize;
        this.wakeBatch = Math.max(1, maxBuffers / 2);
        this.helper = new Thread(new Runnable() {
            // A class, not a lambda: every commit starts it (see HostFiles.Binding).
            @Override
            public void run() {
                runPlanner(planner);
            }
        }, "strata-commit-read-ahead");
        helper.setDaemon(true);
        helper.start();
    }

    private void runPlanner(Planner planner) {
        Throwable failed = null;
        try {
            planner.plan(new Sink() {
                @Override
                public void accept(CommitStep step) {
                    fill(step);
                }

                @Override
                public void awaitWritten() {
                    waitWritten();
                }
            });
        } catch (Stopped e) {
            return;
        } catch (RuntimeException | Error e) {
            failed = e;
        }
        lock.lock();
        try {
            planned = true;
            failure = failed;
            forCaller.signal();
        } finally {
            lock.unlock();
        }
    }

    /** Helper thread: reads a COPY step's data into a free buffer and queues the step. */
    private void fill(CommitStep step) {
        ByteBuffer data = null;
        if (step.kind() == CommitStep.Kind.COPY) {
            data = takeBuffer();
            data.clear().limit((int) step.length());
            reader.read(data, step.offset());
            data.flip();
        }
        lock.lock();
        try {
            if (stopped) {
                throw new Stopped();
            }
            ready.add(new Ready(step, data));
            handed++;
            if (callerWaits) {
                forCaller.signal();
            }
        } finally {
            lock.unlock();
        }
    }

    private void waitWritten() {
        lock.lock();
        try {
            while (!stopped && written < handed) {
                helperWaitsForWrites = true;
                forHelper.awaitUninterruptibly();
                helperWaitsForWrites = false;
            }
            if (stopped) {
                throw new Stopped();
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * A buffer for the next read: a free one, a new one while the pool is not full, else the
     * first of a batch: with every buffer in use, waits until {@code wakeBatch} are free (or
     * close()), so a wake-up that comes early changes nothing.
     */
    private ByteBuffer takeBuffer() {
        lock.lock();
        try {
            if (free.isEmpty() && allocated == maxBuffers) {
                while (!stopped && free.size() < wakeBatch) {
                    helperWaitsForBuffer = true;
                    forHelper.awaitUninterruptibly();
                    helperWaitsForBuffer = false;
                }
            }
            if (stopped) {
                throw new Stopped();
            }
            if (!free.isEmpty()) {
                return free.poll();
            }
            allocated++;
        } finally {
            lock.unlock();
        }
        return IoBuffers.allocate(bufferSize);
    }

    /**
     * The next step in plan order, waiting for it; null once every step was returned.
     *
     * @throws StrataException (or any other failure) the planner or a read failed with, after
     *                         every step planned before the failure was returned
     */
    Ready next() {
        lock.lock();
        try {
            while (ready.isEmpty() && !planned) {
                callerWaits = true;
                forCaller.awaitUninterruptibly();
                callerWaits = false;
            }
            if (!ready.isEmpty()) {
                return ready.poll();
            }
            if (failure instanceof RuntimeException e) {
                throw e;
            }
            if (failure instanceof Error e) {
                throw e;
            }
            return null;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Reports a step returned by {@link #next} as written into the base (every step, in the
     * order next returned them) and gives its buffer back.
     */
    void release(Ready done) {
        lock.lock();
        try {
            if (done.data() != null) {
                free.add(done.data());
            }
            written++;
            if (helperWaitsForBuffer && free.size() >= wakeBatch
                    || helperWaitsForWrites && written == handed) {
                forHelper.signal();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Whether the helper waits for free buffers (for tests). */
    boolean helperWaitsForBuffer() {
        lock.lock();
        try {
            return helperWaitsForBuffer;
        } finally {
            lock.unlock();
        }
    }

    /** Stops the helper (if still planning) and waits until it has ended. */
    @Override
    public void close() {
        lock.lock();
        try {
            stopped = true;
            forHelper.signal();
        } finally {
            lock.unlock();
        }
        boolean interrupted = false;
        while (helper.isAlive()) {
            try {
                helper.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
