package dev.strata.engine.ops.convert;

/*
 * Design note: qemu-img convert's copy loop (convert_do_copy / convert_co_do_copy) with worker
 * threads in place of coroutines. Workers take the next chunk under one lock (the chunker is
 * sequential, like qemu's), then read, zero-scan and write in parallel. With in-order writes
 * (qemu's default), a worker waits until every chunk before its own has been written, so the
 * target is written front to back while reads run ahead; -W lifts the wait. A finished write
 * wakes only the worker whose chunk comes next (a condition per waiting chunk under a lock of
 * its own), not every waiting worker: with thousands of small chunks, waking all of them cost
 * more than the copy. Compressed targets
 * ignore the order: compression happens inside the write, and serialising it would serialise the
 * compressor (qemu does exactly that; the resulting image differs only in where the compressed
 * clusters sit in the file).
 *
 * The first error stops every worker; the error of the lowest chunk wins, as the copy stops there.
 *
 * Like qemu, a first pass over the block status counts the sectors to write (for progress) before
 * anything is written, so a block status error stops the convert before the first write. With
 * -C, data chunks go to CopyOffload once their turn has come. A salvaging convert runs one worker,
 * so its warnings come in qemu's order: the status warnings of a chunk, then its read warnings.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.image.Image;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/** Copies concatenated sources into a target image as qemu-img convert does. */
public final class ConvertOperation {
    private final ConvertSources sources;
    private final Image target;
    private final ConvertSettings settings;
    private final ConvertChunker chunker;
    private final ConvertProgress progress;
    private final SalvageReport salvage;
    private final WriteThrottle throttle;
    private final CopyOffload offload;

    private final Object lock = new Object();
    private long nextSector;
    private long allocatedSectors;
    private long allocatedDone;
    private volatile RuntimeException failure;

    /** Guards writtenUpTo and waiting: the in-order hand-over from one write to the next. */
    private final ReentrantLock turn = new ReentrantLock();
    private final Map<Long, Condition> waiting = new HashMap<>();
    private long writtenUpTo;

    private ConvertOperation(List<Image> sources, Image target, ConvertSettings settings, ConvertProgress progress,
                             SalvageReport salvage) {
        this.sources = new ConvertSources(sources);
        this.target = target;
        this.settings = settings;
        this.chunker = new ConvertChunker(this.sources, settings, salvage);
        this.progress = progress;
        this.salvage = salvage;
        this.throttle = settings.rateLimit() > 0 ? new WriteThrottle(settings.rateLimit()) : WriteThrottle.NONE;
        this.offload = settings.copyOffload() ? new CopyOffload(this.sources, target) : null;
    }

    /** Total size of {@code sources} concatenated: the size of the target qemu-img creates. */
    public static long totalSize(List<Image> sources) {
        return new ConvertSources(sources).totalSize();
    }

    /**
     * Copies {@code sources}, end to end, into {@code target} (at least as large), then flushes it.
     *
     * @throws ConvertFailure the first read or write error
     * @throws StrataException a block status error or a failed final flush
     */
    public static void run(List<Image> sources, Image target, ConvertSettings settings, ConvertProgress progress) {
        run(sources, target, settings, progress, SalvageReport.NONE);
    }

    /**
     * As {@link #run(List, Image, ConvertSettings, ConvertProgress)}, telling {@code salvage}
     * what a salvaging copy ({@link ConvertSettings#salvage()}) could not read.
     */
    public static void run(List<Image> sources, Image target, ConvertSettings settings, ConvertProgress progress,
                           SalvageReport salvage) {
        ConvertOperation op = new ConvertOperation(sources, target, settings, progress, salvage);
        try {
            op.copy();
        } finally {
            if (op.offload != null) {
                op.offload.close();
            }
        }
    }

    private void copy() {
        countAllocated();
        int workers = settings.salvage() ? 1 : Math.max(1, settings.workers());
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < workers - 1; i++) {
            Thread t = new Thread(this::work, "convert-" + i);
            t.setDaemon(true);
            t.start();
            threads.add(t);
        }
        work();
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw StrataException.io("interrupted while converting");
            }
        }
        if (failure != null) {
            throw failure;
        }
        target.flush();
    }

    /** The sectors the copy will write, for progress (qemu counts them in a first pass). */
    private void countAllocated() {
        long total = chunker.totalSectors();
        long sector = 0;
        while (sector < total) {
            int n = chunker.next(sector);
            ConvertChunker.Status st = chunker.status();
            if (st == ConvertChunker.Status.DATA
                    || (settings.minSparseSectors() == 0 && st == ConvertChunker.Status.ZERO)) {
                allocatedSectors += n;
            }
            sector += n;
        }
        chunker.restart();
    }

    private void work() {
        ByteBuffer buf = ByteBuffer.allocateDirect(settings.bufferSectors() * ZeroScan.SECTOR)
                .order(ByteOrder.nativeOrder());
        ChunkWriter writer = new ChunkWriter(target, settings, throttle);
        while (true) {
            long sector;
            int n;
            ConvertChunker.Status status;
            synchronized (lock) {
                if (failure != null || nextSector >= chunker.totalSectors()) {
                    return;
                }
                try {
                    n = chunker.next(nextSector);
                } catch (RuntimeException e) {
                    fail(e);
                    return;
                }
                status = chunker.status();
                if (settings.minSparseSectors() == 0 && status == ConvertChunker.Status.ZERO) {
                    n = Math.min(n, settings.bufferSectors());
                }
                sector = nextSector;
                nextSector += n;
                if (status == ConvertChunker.Status.DATA
                        || (settings.minSparseSectors() == 0 && status == ConvertChunker.Status.ZERO)) {
                    allocatedDone += n;
                    if (allocatedSectors > 0) {
                        progress.reached(100.0 * allocatedDone / allocatedSectors);
                    }
                }
            }
            try {
                if (status == ConvertChunker.Status.DATA && offload != null && offload.enabled()) {
                    awaitTurn(sector);
                    if (offload.copy(sector, n, buf)) {
                        continue;
                    }
                }
                buf.clear();
                if (status == ConvertChunker.Status.DATA
                        || (settings.minSparseSectors() == 0 && status == ConvertChunker.Status.ZERO)) {
                    buf.limit(n * ZeroScan.SECTOR);
                }
                if (status == ConvertChunker.Status.DATA) {
                    read(buf, sector);
                } else if (settings.minSparseSectors() == 0 && status == ConvertChunker.Status.ZERO) {
                    clear(buf);
                    status = ConvertChunker.Status.DATA;
                }
                awaitTurn(sector);
                writer.write(buf, sector, n, status);
            } catch (RuntimeException e) {
                fail(e);
                return;
            } finally {
                finished(sector, n);
            }
        }
    }

    private void read(ByteBuffer buf, long sector) {
        try {
            sources.read(buf.duplicate(), sector * ZeroScan.SECTOR);
        } catch (StrataException e) {
            if (!settings.salvage()) {
                throw new ConvertFailure(ConvertFailure.Stage.READ, sector * ZeroScan.SECTOR, e);
            }
            sources.readSalvaging(buf.duplicate(), sector * ZeroScan.SECTOR, salvage);
        }
    }

    private static void clear(ByteBuffer buf) {
        for (int p = 0; p + 8 <= buf.limit(); p += 8) {
            buf.putLong(p, 0);
        }
    }

    /** With in-order writes, waits until every chunk before {@code sector} is written. */
    private void awaitTurn(long sector) {
        if (!settings.inOrder() || settings.compressed()) {
            return;
        }
        turn.lock();
        try {
            if (writtenUpTo != sector && failure == null) {
                Condition mine = turn.newCondition();
                waiting.put(sector, mine);
                try {
                    while (writtenUpTo != sector && failure == null) {
                        mine.await();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw StrataException.io("interrupted while converting");
                } finally {
                    waiting.remove(sector);
                }
            }
        } finally {
            turn.unlock();
        }
        RuntimeException f = failure;
        if (f != null) {
            throw f;
        }
    }

    private void finished(long sector, int n) {
        turn.lock();
        try {
            if (writtenUpTo == sector) {
                writtenUpTo = sector + n;
                Condition next = waiting.get(writtenUpTo);
                if (next != null) {
                    next.signal();
                }
            }
        } finally {
            turn.unlock();
        }
    }

    private void fail(RuntimeException e) {
        synchronized (lock) {
            if (failure == null) {
                failure = e;
            }
        }
        turn.lock();
        try {
            for (Condition c : waiting.values()) {
                c.signal();
            }
        } finally {
            turn.unlock();
        }
    }
}
