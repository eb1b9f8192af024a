package dev.strata.engine.ops.convert;

/**
 * How to copy, as qemu-img convert's options and target decide it.
 *
 * @param compressed             write compressed clusters (-c)
 * @param minSparseSectors       shortest zero run left out of the target, in sectors (-S / 512);
 *                               0 writes everything (fully allocated target)
 * @param targetHasBacking       the target has a backing file (-B): ranges the source's top layer
 *                               does not hold are left unallocated in the target
 * @param targetBackingSize      the target's backing file size in bytes, or -1 when unknown
 * @param hasZeroInit            the target reads as zeros before the copy (new image without
 *                               backing, or --target-is-zero), so zero ranges need no writes
 * @param workers                parallel requests (-m), 1..16
 * @param inOrder                writes reach the target in offset order (no -W)
 * @param bufferSectors          the largest request, in sectors (qemu: 2 MiB); a compressed
 *                               copy uses {@code clusterSectors} instead, as qemu copies one
 *                               cluster at a time then (so each cluster is zero-checked, read and
 *                               reported on its own)
 * @param clusterSectors         the target's cluster size in sectors (compressed writes are one
 *                               cluster each); for a compressed copy in (0, bufferSectors]
 * @param alignmentSectors       alignment of the ends of written runs, in sectors
 * @param copyOffload            try copy offloading for data (-C): data chunks are copied as
 *                               they are, without zero detection, in the kernel where both ends
 *                               are host files; the first chunk that cannot be offloaded turns
 *                               it off for the rest of the copy
 * @param salvage                read errors become zeros, reported through a
 *                               {@link SalvageReport} (--salvage)
 * @param rateLimit              target write rate limit in bytes per second (-r); 0 = none
 */
public record ConvertSettings(boolean compressed, int minSparseSectors, boolean targetHasBacking,
                              long targetBackingSize, boolean hasZeroInit, int workers, boolean inOrder,
                              int bufferSectors, int clusterSectors, int alignmentSectors,
                              boolean copyOffload, boolean salvage, long rateLimit) {
    /** @throws IllegalArgumentException for a compressed copy whose cluster size is not in range */
    public ConvertSettings {
        if (compressed) {
            if (clusterSectors <= 0 || clusterSectors > bufferSectors) {
                throw new IllegalArgumentException("invalid cluster size for a compressed copy: " + clusterSectors);
            }
            bufferSectors = clusterSectors;
        }
    }
}
