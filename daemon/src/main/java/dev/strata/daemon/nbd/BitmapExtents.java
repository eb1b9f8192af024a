package dev.strata.daemon.nbd;

import dev.strata.engine.image.DirtyBitmap;
import dev.strata.nbd.protocol.NbdExtent;

import java.util.ArrayList;
import java.util.List;

/**
 * The extents of one {@code qemu:dirty-bitmap:} context over a block-status request, as QEMU 7.2's
 * bitmap_to_extents builds them: clean and dirty runs alternate from the request's offset (flag 1
 * dirty, 0 clean); run edges fall on the bitmap's granularity except at the request's own ends,
 * which clip the first and last run; the range past the bitmap's size (a bitmap of a smaller
 * backing file) is clean. At most {@code maxExtents} are returned (1 for {@code REQ_ONE}); the
 * client asks again for the rest.
 */
final class BitmapExtents {
    /** Flag of a dirty extent (NBD_STATE_DIRTY). */
    static final int DIRTY = 1;

    private BitmapExtents() {
    }

    /** The extents of {@code bits} over {@code [offset, offset + length)}, at most {@code maxExtents}. */
    static List<NbdExtent> of(DirtyBitmap bits, long offset, long length, int maxExtents) {
        List<NbdExtent> out = new ArrayList<>();
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long dirtyStart = bits.nextDirty(pos);
            if (dirtyStart < 0 || dirtyStart >= end) {
                break;
            }
            long dirtyEnd = Math.min(bits.nextClean(dirtyStart), end);
            if (!add(out, dirtyStart - pos, 0, maxExtents) || !add(out, dirtyEnd - dirtyStart, DIRTY, maxExtents)) {
                return out;
            }
            pos = dirtyEnd;
        }
        add(out, end - pos, 0, maxExtents);
        return out;
    }

    /** Appends one run unless it is empty; false when the list is full. */
    private static boolean add(List<NbdExtent> out, long length, int flags, int maxExtents) {
        if (length == 0) {
            return true;
        }
        if (out.size() >= maxExtents) {
            return false;
        }
        out.add(new NbdExtent(length, flags));
        return true;
    }
}
