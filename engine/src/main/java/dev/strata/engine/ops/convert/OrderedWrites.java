package dev.strata.engine.ops.convert;

/*
 * Design note: qemu-img convert writes chunks in guest order by default: a coroutine whose chunk
 * has been read waits until every chunk before it has been written. The first version of this
 * hand-over woke the owner of the next chunk when a write finished, and measured on a 1 GiB copy
 * to tmpfs each wake-up cost 0.1-0.4 ms of idle target between two 0.4 ms writes: a third of the
 * copy. Here the thread that finishes a write goes on to write every following chunk that is
 * already read (its owner sleeps until then anyway, and its buffer is not touched until the write
 * is done), so while reads keep ahead one thread writes back to back and the owners are woken off
 * the critical path. Only a thread that finds no next chunk gives up the writer role.
 *
 * A chunk with nothing to write (a hole or zeros going to a zero-initialised target: every other
 * chunk of a half-sparse image) only has to keep the order, so its thread does not wait for its
 * turn (skip): the writer passes over it, and nobody has a wake-up to pay for it.
 */

import java.util.Arrays;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * Runs the writes of consecutive chunks one at a time, in order of their first sector, whichever
 * threads submit them and in whatever order they arrive. Chunks must tile the range from sector
 * 0 with no gap: the chunk after {@code [s, s+n)} is the one starting at {@code s+n}. A submitter
 * blocks until its chunk is written, so every chunk before a submitted one must be on its way from
 * another thread (convert's workers take chunks in order, each one at a time).
 */
final class OrderedWrites {
    private final ReentrantLock lock = new ReentrantLock();
    /** Read chunks waiting for their turn, by first sector. */
    private final Waiting ready = new Waiting();
    private final Consumer<RuntimeException> onFailure;
    private long writtenUpTo;
    private boolean writing;
    private boolean aborted;

    /** @param onFailure told the exception of a write that failed; it must call {@link #abort} */
    OrderedWrites(Consumer<RuntimeException> onFailure) {
        this.onFailure = onFailure;
    }

    /**
     * Runs {@code write}, the write of chunk {@code [sector, sector+n)}, once every chunk before
     * it has been written, on this thread or on the thread that wrote the chunk before. Returns
     * when it has run.
     *
     * @return false when the copy was aborted before the write ran or when the write threw (its
     *         exception went to {@code onFailure}); true when it ran and returned normally
     */
    boolean submit(long sector, int n, Runnable write) {
        Ticket mine = new Ticket(sector, n, write, lock.newCondition());
        lock.lock();
        try {
            if (writing || writtenUpTo != sector) {
                ready.add(mine);
                while (mine.outcome == Outcome.PENDING && !aborted) {
                    mine.done.awaitUninterruptibly();
                }
                if (mine.outcome == Outcome.PENDING) {
                    // Aborted before anyone took it: nobody will run it now.
                    ready.remove(sector);
                    return false;
                }
                return mine.outcome == Outcome.WRITTEN;
            }
            if (aborted) {
                return false;
            }
            writing = true;
        } finally {
            lock.unlock();
        }
        writeFrom(mine, false);
        return mine.outcome == Outcome.WRITTEN;
    }

    /**
     * Records chunk {@code [sector, sector+n)} as one with nothing to write and returns without
     * waiting for its turn. If the turn is already its own, this thread takes the writer role
     * and writes the chunks after it that are waiting.
     */
    void skip(long sector, int n) {
        Ticket mine = new Ticket(sector, n, null, null);
        lock.lock();
        try {
            if (aborted) {
                return;
            }
            if (writing || writtenUpTo != sector) {
                ready.add(mine);
                return;
            }
            writtenUpTo = sector + n;
            Ticket next = ready.remove(writtenUpTo);
            if (next == null) {
                return;
            }
            writing = true;
            mine = next;
        } finally {
            lock.unlock();
        }
        writeFrom(mine, true);
    }

    /** Whether the chunk starting at {@code sector} waits for its turn (for tests). */
    boolean waits(long sector) {
        lock.lock();
        try {
            return ready.has(sector);
        } finally {
            lock.unlock();
        }
    }

    /** Wakes every waiting submitter: their writes will not run. */
    void abort() {
        lock.lock();
        try {
            aborted = true;
            ready.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Holding the writer role: writes {@code first}, then each next chunk already waiting, passing
     * over skipped ones. Wakes the submitter of every chunk written but {@code first}'s own, unless
     * {@code firstWaits} (the submitter of {@code first} waits elsewhere: this thread skipped).
     */
    private void writeFrom(Ticket first, boolean firstWaits) {
        Ticket t = first;
        while (true) {
            RuntimeException error = null;
            if (t.write != null) {
                try {
                    t.write.run();
                } catch (RuntimeException e) {
                    error = e;
                }
            }
            if (error != null) {
                lock.lock();
                try {
                    t.outcome = Outcome.FAILED;
                    writing = false;
                    t.done.signal();
                } finally {
                    lock.unlock();
                }
                onFailure.accept(error);
                return;
            }
            lock.lock();
            try {
                t.outcome = Outcome.WRITTEN;
                writtenUpTo = t.sector + t.n;
                if (t.done != null && (t != first || firstWaits)) {
                    t.done.signal();
                }
                Ticket next = aborted ? null : ready.remove(writtenUpTo);
                if (next == null) {
                    writing = false;
                    return;
                }
                t = next;
            } finally {
                lock.unlock();
            }
        }
    }

    private enum Outcome { PENDING, WRITTEN, FAILED }

    /**
     * The tickets waiting for their turn: at most one per worker, so a few, searched in place.
     * Not a HashMap: the first sectors of a convert's chunks are multiples of the chunk size, and
     * Long's hash of such numbers sends a run of consecutive chunks to the same bin, which
     * HashMap then turns into a tree (and the JIT compiles TreeNode's code for it).
     */
    private static final class Waiting {
        private Ticket[] tickets = new Ticket[8];
        private int count;

        void add(Ticket t) {
            if (count == tickets.length) {
                tickets = Arrays.copyOf(tickets, count * 2);
            }
            tickets[count++] = t;
        }

        /** Removes and returns the ticket of the chunk starting at {@code sector}, or null. */
        Ticket remove(long sector) {
            for (int i = 0; i < count; i++) {
                Ticket t = tickets[i];
                if (t.sector == sector) {
                    tickets[i] = tickets[--count];
                    tickets[count] = null;
                    return t;
                }
            }
            return null;
        }

        boolean has(long sector) {
            for (int i = 0; i < count; i++) {
                if (tickets[i].sector == sector) {
                    return true;
                }
            }
            return false;
        }

        /** Wakes the submitter of every waiting ticket that has one. */
        void signalAll() {
            for (int i = 0; i < count; i++) {
                if (tickets[i].done != null) {
                    tickets[i].done.signal();
                }
            }
        }
    }

    /** One chunk's write and what became of it (guarded by the lock). */
    private static final class Ticket {
        final long sector;
        final int n;
        /** The write; null for a skipped chunk. */
        final Runnable write;
        /** Where the submitter waits; null for a skipped chunk (nobody waits). */
        final Condition done;
        Outcome outcome = Outcome.PENDING;

        Ticket(long sector, int n, Runnable write, Condition done) {
            this.sector = sector;
            this.n = n;
            this.write = write;
            this.done = done;
        }
    }
}
