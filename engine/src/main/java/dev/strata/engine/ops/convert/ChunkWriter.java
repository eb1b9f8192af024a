package dev.strata.engine.ops.convert;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.CompressedUnit;
import dev.strata.engine.image.Image;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Writes one chunk of a convert into the target as qemu's convert_co_write does: data runs are
 * written (compressed when asked), zero runs long enough to matter are left out of a
 * zero-initialised target or written as zeroes (may unmap) otherwise, and backing ranges are
 * left alone. Each request passes the rate limit first (-r), as qemu's throttled target. Each
 * worker has its own.
 */
final class ChunkWriter {
    private final Image target;
    private final ConvertSettings settings;
    private final WriteThrottle throttle;

    /** What {@link #plan} returns for a chunk with nothing to write. */
    static final Runnable NOTHING = new Runnable() {
        @Override
        public void run() {
            // a hole or zeros going to a zero-initialised target
        }
    };

    ChunkWriter(Image target, ConvertSettings settings, WriteThrottle throttle) {
        this.target = target;
        this.settings = settings;
        this.throttle = throttle;
    }

    /**
     * Decides how chunk {@code [sector, sector+n)}, whose bytes (for DATA) are in {@code buf}, is
     * written, and returns the writes. Zero detection and compression run here, on the calling
     * thread, so that with in-order writes they happen in parallel, before the chunk's turn; the
     * returned writes run in the turn and throw {@link ConvertFailure} when the target fails;
     * {@link #NOTHING} when there is nothing to write.
     */
    Runnable plan(ByteBuffer buf, long sector, int n, ConvertChunker.Status status) {
        Runs runs = new Runs();
        int done = 0;
        while (done < n) {
            int left = n - done;
            int run = left;
            boolean zero = status == ConvertChunker.Status.ZERO;
            if (status == ConvertChunker.Status.DATA) {
                if (settings.compressed()) {
                    if (settings.minSparseSectors() == 0
                            || !ZeroScan.isZero(buf, done * ZeroScan.SECTOR, left * ZeroScan.SECTOR)) {
                        runs.add(Runs.COMPRESSED, done, run);
                        runs.units[runs.count - 1] = compress(buf.slice(done * ZeroScan.SECTOR,
                                left * ZeroScan.SECTOR), (sector + done) * ZeroScan.SECTOR, sector);
                    } else {
                        zero = true;
                    }
                } else if (settings.minSparseSectors() == 0) {
                    runs.add(Runs.DATA, done, run);
                } else {
                    ByteBuffer part = buf.slice(done * ZeroScan.SECTOR, left * ZeroScan.SECTOR)
                            .order(buf.order());
                    ZeroScan.Run r = ZeroScan.dataRun(part, left, sector + done, settings.minSparseSectors(),
                            settings.alignmentSectors());
                    run = r.sectors();
                    if (r.data()) {
                        runs.add(Runs.DATA, done, run);
                    } else {
                        zero = true;
                    }
                }
            }
            if (zero && !settings.hasZeroInit()) {
                runs.add(Runs.ZEROES, done, run);
            }
            done += run;
        }
        if (runs.count == 0) {
            return NOTHING;
        }
        return new PlannedWrite(buf, sector, runs);
    }

    /**
     * The writes {@link #plan} returns. A class, not a capturing lambda: the workers reach it
     * together at the start of the copy, and each would link the lambda's call site at once
     * (see HostFiles.Binding on lambdas at start-up).
     */
    private final class PlannedWrite implements Runnable {
        private final ByteBuffer buf;
        private final long sector;
        private final Runs runs;

        PlannedWrite(ByteBuffer buf, long sector, Runs runs) {
            this.buf = buf;
            this.sector = sector;
            this.runs = runs;
        }

        @Override
        public void run() {
            write(buf, sector, runs);
        }
    }

    private void write(ByteBuffer buf, long sector, Runs runs) {
        try {
            for (int i = 0; i < runs.count; i++) {
                int from = runs.from[i];
                int sectors = runs.sectors[i];
                long offset = (sector + from) * ZeroScan.SECTOR;
                long bytes = (long) sectors * ZeroScan.SECTOR;
                switch (runs.kind[i]) {
                    case Runs.DATA -> {
                        throttle.admit(bytes);
                        target.write(buf.slice(from * ZeroScan.SECTOR, (int) bytes), offset);
                    }
                    case Runs.COMPRESSED -> {
                        for (CompressedUnit u : runs.units[i]) {
                            throttle.admit(u.plain().remaining());
                            target.writeCompressed(u);
                        }
                    }
                    default -> {
                        throttle.admit(bytes);
                        target.writeZeroes(offset, bytes, true);
                    }
                }
            }
        } catch (StrataException e) {
            throw new ConvertFailure(ConvertFailure.Stage.WRITE, sector * ZeroScan.SECTOR, e);
        }
    }

    /**
     * The compressed units of {@code part} (guest bytes from {@code offset}): one per cluster, the
     * last one maybe short. Compression runs here, before the chunk's turn; a failure is the
     * chunk's write error, as in qemu.
     */
    private CompressedUnit[] compress(ByteBuffer part, long offset, long chunkSector) {
        int unit = settings.clusterSectors() * ZeroScan.SECTOR;
        int count = (part.limit() + unit - 1) / unit;
        CompressedUnit[] units = new CompressedUnit[count];
        int k = 0;
        for (int p = 0; p < part.limit(); p += unit) {
            long at = offset + p;
            int len = (int) Math.min(Math.min(unit, part.limit() - p), target.size() - at);
            try {
                units[k++] = target.compress(part.slice(p, len), at);
            } catch (StrataException e) {
                throw new ConvertFailure(ConvertFailure.Stage.WRITE, chunkSector * ZeroScan.SECTOR, e);
            }
        }
        return k == count ? units : Arrays.copyOf(units, k);
    }

    /** The runs of one chunk to write, in order: kind, first sector (within the chunk), length. */
    private static final class Runs {
        static final byte DATA = 0;
        static final byte COMPRESSED = 1;
        static final byte ZEROES = 2;

        byte[] kind = new byte[4];
        int[] from = new int[4];
        int[] sectors = new int[4];
        /** For COMPRESSED runs, their units, compressed ahead of the write. */
        CompressedUnit[][] units = new CompressedUnit[4][];
        int count;

        void add(byte k, int first, int n) {
            if (count == kind.length) {
                kind = Arrays.copyOf(kind, count * 2);
                from = Arrays.copyOf(from, count * 2);
                sectors = Arrays.copyOf(sectors, count * 2);
                units = Arrays.copyOf(units, count * 2);
            }
            kind[count] = k;
            from[count] = first;
            sectors[count] = n;
            count++;
        }
    }
}
