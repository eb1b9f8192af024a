package dev.strata.engine.ops.rebase;

/*
 * Design note: the two allocation questions qemu-img 7.2's rebase loop asks, answered from the
 * layers' mappings alone (no data is read):
 *
 *  - bdrv_is_allocated on the image itself: a layer "allocates" a range when its driver reports
 *    data or zeros there (qcow2 normal, compressed and zero clusters); unallocated clusters,
 *    with or without a reserved host cluster, defer to the backing file. The run is the
 *    driver's run (one subcluster type, one L2 slice), as qemu's pnum is.
 *  - bdrv_is_allocated_above(backing, base, include_base=false): the layers from the image's
 *    backing file down to, not including, {@code base}. The first layer that allocates the
 *    start decides, with its run; each unallocated layer shortens the range to its own run
 *    before the next is asked. A layer shorter than the offset counts as allocating (its
 *    synthesized zeros), as bdrv_co_common_block_status_above treats a short layer.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.Mapping;
import dev.strata.engine.image.Layer;

import java.util.List;

/** Allocation status of guest ranges in one layer or a run of layers. */
final class LayerAllocation {
    private LayerAllocation() {
    }

    /**
     * Whether a layer allocates the start of a range, and for how many bytes that answer holds.
     *
     * @param allocated whether the bytes come from the layer(s) asked
     * @param length    bytes from the offset with that answer, in (0, requested]
     */
    record Run(boolean allocated, long length) {
    }

    /** bdrv_is_allocated of {@code driver} at {@code offset} for at most {@code bytes} (offset inside the layer). */
    static Run ofLayer(FormatDriver driver, long offset, long bytes) {
        Mapping m = driver.map(offset, bytes);
        long n = Math.min(m.length(), bytes);
        if (n <= 0) {
            throw StrataException.io("format driver returned an empty mapping at offset " + offset);
        }
        return new Run(!(m instanceof Mapping.Unallocated), n);
    }

    /**
     * bdrv_is_allocated_above over {@code layers.subList(from, until)}: whether any of them
     * allocates the start of {@code [offset, offset+bytes)}.
     */
    static Run above(List<Layer> layers, int from, int until, long offset, long bytes) {
        long n = bytes;
        for (int i = from; i < until; i++) {
            FormatDriver d = layers.get(i).driver();
            if (offset >= d.virtualSize()) {
                return new Run(true, n);
            }
            Run r = ofLayer(d, offset, Math.min(n, d.virtualSize() - offset));
            if (r.allocated()) {
                return r;
            }
            n = r.length();
        }
        return new Run(false, n);
    }
}
