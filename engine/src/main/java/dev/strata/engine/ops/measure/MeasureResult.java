package dev.strata.engine.ops.measure;

/**
 * What {@code qemu-img measure} reports (qemu's BlockMeasureInfo).
 *
 * @param required       bytes the new image needs for the data and metadata to be written
 * @param fullyAllocated bytes the new image takes when every cluster is allocated
 * @param bitmaps        bytes of the source's persistent bitmaps in the new image, or null when
 *                       qemu leaves the field out (no qcow2 v3 source or target)
 */
public record MeasureResult(long required, long fullyAllocated, Long bitmaps) {
}
