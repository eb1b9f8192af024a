package dev.strata.engine.ops.rebase;

/*
 * Design note: what qemu 7.2 makes of blk_pwrite_zeroes(flags 0) on a qcow2 image whose zeros
 * can live in metadata (v3, or v2 without a backing file), and which the engine's writer does
 * not do by itself: the block layer (bdrv_co_do_pwrite_zeroes) cuts the request at the zero
 * alignment (the cluster) into an unaligned head, an aligned middle and an unaligned tail.
 * The middle becomes zero clusters. For a head or tail, qcow2_co_pwrite_zeroes looks at the
 * rest of that cluster: when the rest already reads as zeros through the whole chain (block
 * status ZERO, over the whole range) and the cluster holds no data in the image (unallocated
 * or zero), the whole cluster becomes a zero cluster; otherwise qemu falls back to writing zero
 * bytes into that piece (copy-on-write completes the cluster). A piece that ends at the end
 * of the image counts as aligned there.
 *
 * Images without metadata zeros, and extended-L2 images (whose zero alignment is the
 * subcluster), go to the writer unchanged.
 */

import dev.strata.engine.format.BackingReader;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.Mapping;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;

/** Zero writes into an image, split and widened as qemu's block layer and qcow2 driver do. */
final class ZeroWriteSplit {
    private final LayerWriter writer;
    private final Image view;
    private final long unit;
    private final BackingReader below;

    /**
     * @param writer the image's writer
     * @param view   the image over its current backing chain (block status as reads see it)
     * @param unit   the zero alignment to emulate (cluster size), or 0 to pass writes through
     * @param below  copy-on-write source of the writer
     */
    ZeroWriteSplit(LayerWriter writer, Image view, long unit, BackingReader below) {
        this.writer = writer;
        this.view = view;
        this.unit = unit;
        this.below = below;
    }

    /** Makes {@code [offset, offset+length)} read as zeros, as blk_pwrite_zeroes(flags 0) does. */
    void write(long offset, long length) {
        long end = offset + length;
        if (unit == 0) {
            writer.writeZeroes(offset, length, false, below);
            return;
        }
        long size = view.size();
        long pos = offset;
        while (pos < end) {
            long clusterStart = pos - pos % unit;
            long clusterEnd = Math.min(clusterStart + unit, size);
            long pieceEnd = pos % unit != 0 ? Math.min(end, clusterEnd) : alignedEnd(pos, end, size);
            boolean partial = pos != clusterStart || (pieceEnd < clusterEnd && pieceEnd != size);
            if (partial && restReadsZero(clusterStart, pos, pieceEnd, clusterEnd)) {
                writer.writeZeroes(clusterStart, clusterEnd - clusterStart, false, below);
            } else {
                writer.writeZeroes(pos, pieceEnd - pos, false, below);
            }
            pos = pieceEnd;
        }
    }

    /** End of the piece starting at aligned {@code pos}: up to the last whole cluster, or to the end. */
    private long alignedEnd(long pos, long end, long size) {
        long whole = end - end % unit;
        return end == size || whole <= pos ? end : whole;
    }

    private boolean restReadsZero(long clusterStart, long from, long to, long clusterEnd) {
        Mapping own = view.layers().get(0).driver().map(clusterStart, clusterEnd - clusterStart);
        if (!(own instanceof Mapping.Unallocated) && !(own instanceof Mapping.Zero)) {
            return false;
        }
        long tailEnd = to == view.size() ? to : clusterEnd;
        return readsZero(clusterStart, from) && readsZero(to, tailEnd);
    }

    private boolean readsZero(long from, long to) {
        if (from >= to) {
            return true;
        }
        Extent e = view.blockStatusAt(from, to - from);
        return e.zero() && e.length() >= to - from;
    }
}
