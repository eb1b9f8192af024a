package dev.strata.engine.ops.convert;

/*
 * Design note: qemu-img convert's copy loop (convert_do_copy / convert_co_do_copy) with worker
 * threads in place of coroutines. Workers take the next chunk under one lock (the chunker is
 * sequential, like qemu's), then read, zero-scan and write in parallel. With in-order writes
 * (qemu's default), a worker waits until every chunk before its own has been written, so the
 * target is written front to back while reads run ahead; -W lifts the wait. OrderedWrites does
 * the hand-over: the thread that finishes a write also writes the chunks after it that are
 * already read; a chunk with nothing to write is only recorded (skip), its worker goes on at once.
 * Compressed targets keep the order too: the clusters are compressed before the
 * chunk's turn, in parallel, and only their allocation and write are in order, so they sit in
 * the file where qemu puts them (qemu compresses in order, one chunk at a time).
 *
 * The first error stops every worker; the error of the lowest chunk wins, as the copy stops
 * there.
 *
 * Like qemu, a first pass over the block status counts the sectors to write (for progress)
 * before anything is written, so a block status error stops the convert before the first write.
 * The pass is left out when nothing reports progress and the sources' block status cannot fail
 * (raw host files): then it could change nothing a user sees, and on a sparse raw file its seeks
 * cost about 30 ms per 2 GiB. With -C, data chunks go to CopyOffload in their turn, and are read
 * only if that fails. A salvaging convert runs one worker, so its warnings come in qemu's order:
 * the status warnings of a chunk, then its read warnings.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.image.Image;
import dev.strata.engine.storage.IoBuffers;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/** Copies concatenated sources into a target image as qemu-img convert does. */
public final class ConvertOperation {
    /** Sectors of the smallest buffer a worker allocates (64 KiB). */
    private static final int MIN_BUFFER_SECTORS = 128;

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

    /** The in-order hand-over from one write to the next; null when writes need no order. */
    private final OrderedWrites ordered;

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
        // Anonymous classes here and for the workers below, not method references: each convert
        // would link them at start-up (see HostFiles.Binding).
        this.ordered = settings.inOrder() ? new OrderedWrites(new Consumer<RuntimeException>() {
            @Override
            public void accept(RuntimeException e) {
                fail(e);
            }
        }) : null;
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
        if (progress != ConvertProgress.NONE || !sources.statusCannotFail()) {
            countAllocated();
        }
        int workers = settings.salvage() ? 1 : Math.max(1, settings.workers());
        List<Thread> threads = new ArrayList<>();
        Runnable worker = new Runnable() {
            @Override
            public void run() {
                work();
            }
        };
        for (int i = 0; i < workers - 1; i++) {
            Thread t = new Thread(worker, "convert-" + i);
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
            if (writesBytes(st)) {
                allocatedSectors += n;
            }
            sector += n;
        }
        chunker.restart();
    }

    private void work() {
        ByteBuffer buf = null;
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
                if (zeroAsData(status)) {
                    n = Math.min(n, settings.bufferSectors());
                }
                sector = nextSector;
                nextSector += n;
                if (writesBytes(status)) {
                    allocatedDone += n;
                    if (allocatedSectors > 0) {
                        progress.reached(100.0 * allocatedDone / allocatedSectors);
                    }
                }
            }
            Runnable write;
            try {
                buf = bufferFor(buf, n, status);
                write = prepare(buf, writer, sector, n, status);
            } catch (RuntimeException e) {
                fail(e);
                return;
            }
            if (write == ChunkWriter.NOTHING) {
                if (ordered != null) {
                    ordered.skip(sector, n);
                }
            } else if (ordered != null) {
                if (!ordered.submit(sector, n, write)) {
                    return;
                }
            } else {
                try {
                    write.run();
                } catch (RuntimeException e) {
                    fail(e);
                    return;
                }
            }
        }
    }

    /** Whether a chunk of this status is a zero chunk written as data (-S 0: no zero detection). */
    private boolean zeroAsData(ConvertChunker.Status status) {
        return settings.minSparseSectors() == 0 && status == ConvertChunker.Status.ZERO;
    }

    /** Whether a chunk's bytes are written: data, or zeros written as data (counted for progress). */
    private boolean writesBytes(ConvertChunker.Status status) {
        return status == ConvertChunker.Status.DATA || zeroAsData(status);
    }

    /**
     * The worker's buffer for a chunk of {@code n} sectors: {@code buf} when the chunk reads no
     * bytes (a hole, zeros not written as data) or fits in it, else a new one of the next power
     * of two, 64 KiB at least and the largest chunk (qemu's 2 MiB buf_sectors) at most. A worker
     * starts with none and grows it as its chunks need, rather than allocating the largest at
     * once: allocateDirect zeroes and faults in every page at the start of the copy (about
     * 0.5 ms per MiB on a 2-CPU VM), and a sparse image's data chunks are often smaller.
     */
    private ByteBuffer bufferFor(ByteBuffer buf, int n, ConvertChunker.Status status) {
        if (!writesBytes(status) || (buf != null && buf.capacity() >= n * ZeroScan.SECTOR)) {
            return buf;
        }
        int sectors = Math.max(MIN_BUFFER_SECTORS, Integer.highestOneBit(Math.max(1, n - 1)) << 1);
        sectors = Math.max(n, Math.min(sectors, settings.bufferSectors()));
        return IoBuffers.allocate(sectors * ZeroScan.SECTOR).order(ByteOrder.nativeOrder());
    }

    /**
     * Does what chunk {@code [sector, sector+n)} needs before its turn to be written (reads a data
     * chunk into {@code buf}, clears it for a zero chunk written as data) and returns its write.
     * A data chunk that -C may offload is read only if offloading fails, in its turn, as qemu
     * tries copy_range first.
     */
    private Runnable prepare(ByteBuffer buf, ChunkWriter writer, long sector, int n, ConvertChunker.Status status) {
        ConvertChunker.Status written = zeroAsData(status) ? ConvertChunker.Status.DATA : status;
        if (status == ConvertChunker.Status.DATA && offload != null && offload.enabled()) {
            return () -> {
                if (!offload.copy(sector, n, buf)) {
                    fill(buf, sector, n, status);
                    writer.plan(buf, sector, n, written).run();
                }
            };
        }
        fill(buf, sector, n, status);
        return writer.plan(buf, sector, n, written);
    }

    /** Puts the bytes of a data chunk, or zeros for a zero chunk written as data, in {@code buf}. */
    private void fill(ByteBuffer buf, long sector, int n, ConvertChunker.Status status) {
        if (status == ConvertChunker.Status.DATA) {
            buf.clear().limit(n * ZeroScan.SECTOR);
            read(buf, sector);
        } else if (zeroAsData(status)) {
            buf.clear().limit(n * ZeroScan.SECTOR);
            clear(buf);
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

    private void fail(RuntimeException e) {
        synchronized (lock) {
            if (failure == null) {
                failure = e;
            }
        }
        if (ordered != null) {
            ordered.abort();
        }
    }
}
