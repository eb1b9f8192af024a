package dev.strata.engine.ops.convert;

/*
 * Design note: qemu-img convert walks the concatenated sources in chunks, each with one status
 * (qemu's convert_iteration_sectors): the status comes from block status, of the source's top
 * layer alone when the target has a backing file (what the top does not hold stays with the
 * target's backing file), else of the whole chain. A status query answers for a run that may be
 * much longer than one chunk; the run is remembered and cut into chunks of at most the buffer
 * size. Run ends are pulled back to the source's cluster alignment so the next query starts
 * aligned; compressed targets take whole clusters. A failed status query is a ConvertFailure; when
 * salvaging, it is asked again on a quarter of the range until a single sector fails, which is
 * reported and read as data (qemu's retry in convert_iteration_sectors). Not thread-safe: the convert loop calls it
 * under its lock, as qemu calls it under its coroutine mutex.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.image.Extent;

/** Cuts the sources into chunks of one status each. */
final class ConvertChunker {
    /** What one chunk needs in the target. */
    enum Status {
        /** Read from the source and write (unless it turns out to be zeros). */
        DATA,
        /** Reads as zeros: nothing to write on a zero-initialised target. */
        ZERO,
        /** Left unallocated so the target's backing file shows through. */
        BACKING
    }

    private static final long MAX_REQUEST_SECTORS = (Integer.MAX_VALUE >> 9) & ~7L;

    private final ConvertSources sources;
    private final ConvertSettings settings;
    private final SalvageReport salvage;
    private final long totalSectors;
    private long nextStatusSector;
    private Status status = Status.DATA;

    ConvertChunker(ConvertSources sources, ConvertSettings settings, SalvageReport salvage) {
        this.sources = sources;
        this.settings = settings;
        this.salvage = salvage;
        this.totalSectors = sources.totalSize() / ZeroScan.SECTOR;
    }

    /** Total sectors to convert. */
    long totalSectors() {
        return totalSectors;
    }

    /** The status of the chunk {@link #next} last returned. */
    Status status() {
        return status;
    }

    /** Forgets remembered status runs, to walk again from sector 0. */
    void restart() {
        nextStatusSector = 0;
        status = Status.DATA;
    }

    /**
     * The length in sectors of the chunk starting at {@code sector} (below the total); its status
     * is then {@link #status()}.
     */
    int next(long sector) {
        int part = sources.partAt(sector * ZeroScan.SECTOR);
        long partStart = sources.start(part) / ZeroScan.SECTOR;
        long n = Math.min(totalSectors - sector, MAX_REQUEST_SECTORS);
        boolean postBackingZero = false;
        long backingSectors = settings.targetBackingSize() < 0 ? -1 : settings.targetBackingSize() / ZeroScan.SECTOR;
        if (backingSectors >= 0) {
            if (sector >= backingSectors) {
                postBackingZero = true;
            } else if (sector + n > backingSectors) {
                n = backingSectors - sector;
            }
        }
        if (nextStatusSector <= sector) {
            long inPart = sector - partStart;
            long partSectors = sources.size(part) / ZeroScan.SECTOR;
            long ask = Math.min(n, partSectors - inPart);
            Extent e = statusAt(part, inPart, ask);
            long got = e == null ? 1 : (e.length() + ZeroScan.SECTOR - 1) / ZeroScan.SECTOR;
            long tail = (inPart + got) % sources.alignmentSectors(part);
            if (got > tail) {
                got -= tail;
            }
            status = e == null ? Status.DATA : classify(part, e, postBackingZero);
            nextStatusSector = sector + got;
            n = got;
        }
        n = Math.min(n, nextStatusSector - sector);
        if (status == Status.DATA) {
            n = Math.min(n, settings.bufferSectors());
        }
        if (settings.compressed()) {
            int cluster = settings.clusterSectors();
            if (n < cluster) {
                n = Math.min(cluster, totalSectors - sector);
                status = Status.DATA;
            } else {
                n -= n % cluster;
            }
        }
        return (int) n;
    }

    /**
     * The block status of {@code sectors} sectors at sector {@code inPart} of source {@code part};
     * null when salvaging found the first sector unreadable (then read it as data).
     */
    private Extent statusAt(int part, long inPart, long sectors) {
        long n = sectors;
        while (true) {
            try {
                return sources.statusAt(part, inPart * ZeroScan.SECTOR, n * ZeroScan.SECTOR);
            } catch (StrataException e) {
                if (!settings.salvage()) {
                    throw new ConvertFailure(ConvertFailure.Stage.BLOCK_STATUS, inPart * ZeroScan.SECTOR, e);
                }
                if (n == 1) {
                    salvage.blockStatusFailed(inPart * ZeroScan.SECTOR, e.kind());
                    return null;
                }
                n = (n + 3) / 4;
            }
        }
    }

    /**
     * qemu's mapping of block status to a chunk status: ZERO wins, then DATA; what neither holds
     * is the backing file's when the target has one (and the query looked at the top layer only),
     * else data to copy.
     */
    private Status classify(int part, Extent e, boolean postBackingZero) {
        boolean topOnly = settings.targetHasBacking() && sources.hasBacking(part);
        if (topOnly && e.depth() > 0) {
            return Status.BACKING;
        }
        if (e.zero()) {
            return postBackingZero ? Status.BACKING : Status.ZERO;
        }
        if (e.data()) {
            return Status.DATA;
        }
        return settings.targetHasBacking() ? Status.BACKING : Status.DATA;
    }
}
