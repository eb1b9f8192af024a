package dev.strata.engine.ops.info;

import dev.strata.engine.format.SnapshotInfo;

import java.util.List;
import java.util.Map;

/**
 * What {@code qemu-img info} reports about one layer: QEMU's {@code ImageInfo}.
 *
 * @param filename               the name the layer was opened under
 * @param format                 format name ("qcow2", "raw")
 * @param virtualSize            guest size in bytes
 * @param actualSize             host bytes allocated ("disk size"), or -1 when unknown
 * @param dirtyFlag              the format's dirty flag (false for formats without one)
 * @param clusterSize            cluster size, or 0 when the format has none
 * @param encrypted              guest data is encrypted
 * @param backingFilename        the backing reference as stored, or null
 * @param fullBackingFilename    the backing reference combined with the layer's directory
 *                               (qemu's path_combine), or null when there is no backing file
 * @param backingFormat          the backing format recorded in the layer, or null
 * @param snapshots              internal snapshots in table order (empty when none)
 * @param formatSpecificType     the "type" of format-specific data (the format name), or null
 * @param formatSpecific         the "data" of format-specific data, or null
 */
public record ImageInfo(String filename, String format, long virtualSize, long actualSize,
                        boolean dirtyFlag, long clusterSize, boolean encrypted,
                        String backingFilename, String fullBackingFilename, String backingFormat,
                        List<SnapshotInfo> snapshots, String formatSpecificType,
                        Map<String, Object> formatSpecific) {
}
