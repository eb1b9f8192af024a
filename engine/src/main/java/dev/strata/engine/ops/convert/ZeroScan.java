package dev.strata.engine.ops.convert;

/*
 * Design note: qemu-img convert decides what to write by looking at the data, 512-byte sector
 * by sector: runs of zero sectors long enough (-S, min_sparse) are left out of the target, and
 * the ends of written runs are aligned so the target sees whole blocks. This is qemu's
 * is_allocated_sectors / is_allocated_sectors_min, written from their documented behaviour:
 *
 *   runAt:   the run of sectors in the same state (zero or not) that starts the buffer, with
 *            its end moved to an alignment boundary: a data run's end is rounded up (so the
 *            write covers the block), a zero run's end rounded down; a zero run that only
 *            fills the tail before the next boundary counts as data.
 *   dataRun: a leading zero run is skipped whatever its length; a leading data run absorbs the
 *            zero runs that follow it while they are shorter than min_sparse.
 *
 * Zero tests read 8 bytes at a time from a direct buffer in native order.
 */

import java.nio.ByteBuffer;

/** Zero detection over a buffer of whole 512-byte sectors, as qemu-img convert does it. */
final class ZeroScan {
    static final int SECTOR = 512;

    private ZeroScan() {
    }

    /**
     * The next run to write or skip: {@code sectors} long, data when {@code data}.
     *
     * @param buf         the chunk (position 0 = sector {@code sectorNum})
     * @param n           sectors in the chunk
     * @param sectorNum   sector number of the chunk's first sector in the target
     * @param minSparse   shortest zero run (sectors) worth leaving out, at least 1
     * @param alignment   alignment of run ends, in sectors (a power of two)
     */
    static Run dataRun(ByteBuffer buf, int n, long sectorNum, int minSparse, int alignment) {
        int min = Math.min(minSparse, n);
        Run first = runAt(buf, 0, n, sectorNum, alignment);
        if (!first.data()) {
            return first;
        }
        int used = first.sectors();
        int checked = used;
        while (checked < n) {
            Run r = runAt(buf, checked, n - checked, sectorNum + checked, alignment);
            checked += r.sectors();
            if (r.data()) {
                used = checked;
            } else if (r.sectors() >= min) {
                break;
            }
        }
        return new Run(true, used);
    }

    /** The aligned run of same-state sectors starting at sector {@code from} of {@code buf}. */
    static Run runAt(ByteBuffer buf, int from, int n, long sectorNum, int alignment) {
        boolean zero = isZeroSector(buf, from);
        int i = 1;
        while (i < n && isZeroSector(buf, from + i) == zero) {
            i++;
        }
        if (i == n) {
            return new Run(!zero, i);
        }
        int tail = (int) ((sectorNum + i) & (alignment - 1));
        if (tail != 0) {
            if (zero && i <= tail) {
                zero = false;
            }
            if (!zero) {
                i = Math.min(i + alignment - tail, n);
            } else {
                i -= tail;
            }
        }
        return new Run(!zero, i);
    }

    /** Whether the whole of {@code bytes} bytes from {@code offset} are zero. */
    static boolean isZero(ByteBuffer buf, int offset, int bytes) {
        int end = offset + bytes;
        int p = offset;
        for (; p + 8 <= end; p += 8) {
            if (buf.getLong(p) != 0) {
                return false;
            }
        }
        for (; p < end; p++) {
            if (buf.get(p) != 0) {
                return false;
            }
        }
        return true;
    }

    private static boolean isZeroSector(ByteBuffer buf, int sector) {
        return isZero(buf, sector * SECTOR, SECTOR);
    }

    /** A run of sectors to write ({@code data}) or to leave out. */
    record Run(boolean data, int sectors) {
    }
}
