package dev.strata.engine.format;

import java.util.List;
import java.util.Map;

/**
 * What {@code qemu-img info} shows about one layer beyond its size and backing reference.
 *
 * @param clusterSize     cluster size in bytes, or 0 when the format has none
 * @param encrypted       whether guest data is encrypted
 * @param dirty           the format's dirty flag (qcow2 lazy refcounts), or null if it has none
 * @param snapshots       internal snapshots, in table order
 * @param formatSpecific  qemu's "format-specific" data member, as an ordered tree of JSON-like
 *                        values (String, Boolean, Long, List, Map) in QAPI field order with
 *                        QAPI names; null when the format has none
 */
public record LayerDescription(long clusterSize, boolean encrypted, Boolean dirty,
                               List<SnapshotInfo> snapshots, Map<String, Object> formatSpecific) {
    /** A layer with nothing to say beyond size (raw). */
    public static LayerDescription plain() {
        return new LayerDescription(0, false, null, List.of(), null);
    }
}
