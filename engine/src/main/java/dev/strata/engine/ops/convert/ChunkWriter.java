package dev.strata.engine.ops.convert;

import dev.strata.engine.StrataException;
import dev.strata.engine.image.Image;

import java.nio.ByteBuffer;

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

    ChunkWriter(Image target, ConvertSettings settings, WriteThrottle throttle) {
        this.target = target;
        this.settings = settings;
        this.throttle = throttle;
    }

    /** Writes chunk {@code [sector, sector+n)} whose bytes (for DATA) are in {@code buf}. */
    void write(ByteBuffer buf, long sector, int n, ConvertChunker.Status status) {
        try {
            writeRuns(buf, sector, n, status);
        } catch (StrataException e) {
            throw new ConvertFailure(ConvertFailure.Stage.WRITE, sector * ZeroScan.SECTOR, e);
        }
    }

    private void writeRuns(ByteBuffer buf, long sector, int n, ConvertChunker.Status status) {
        int done = 0;
        while (done < n) {
            int left = n - done;
            int run = left;
            long offset = (sector + done) * ZeroScan.SECTOR;
            boolean zero = status == ConvertChunker.Status.ZERO;
            if (status == ConvertChunker.Status.DATA) {
                ByteBuffer part = buf.slice(done * ZeroScan.SECTOR, left * ZeroScan.SECTOR)
                        .order(buf.order());
                if (settings.compressed()) {
                    if (settings.minSparseSectors() == 0 || !ZeroScan.isZero(part, 0, part.limit())) {
                        writeCompressed(part, offset);
                    } else {
                        zero = true;
                    }
                } else if (settings.minSparseSectors() == 0) {
                    throttle.admit(part.remaining());
                    target.write(part, offset);
                } else {
                    ZeroScan.Run r = ZeroScan.dataRun(part, left, sector + done, settings.minSparseSectors(),
                            settings.alignmentSectors());
                    run = r.sectors();
                    if (r.data()) {
                        throttle.admit((long) run * ZeroScan.SECTOR);
                        target.write(part.limit(run * ZeroScan.SECTOR), offset);
                    } else {
                        zero = true;
                    }
                }
            }
            if (zero && !settings.hasZeroInit()) {
                throttle.admit((long) run * ZeroScan.SECTOR);
                target.writeZeroes(offset, (long) run * ZeroScan.SECTOR, true);
            }
            done += run;
        }
    }

    /** One compressed write per cluster (a chunk holds whole clusters, the last one maybe short). */
    private void writeCompressed(ByteBuffer part, long offset) {
        int unit = settings.clusterSectors() * ZeroScan.SECTOR;
        for (int p = 0; p < part.limit(); p += unit) {
            int len = Math.min(unit, part.limit() - p);
            long at = offset + p;
            len = (int) Math.min(len, target.size() - at);
            throttle.admit(len);
            target.writeCompressed(part.slice(p, len), at);
        }
    }
}
