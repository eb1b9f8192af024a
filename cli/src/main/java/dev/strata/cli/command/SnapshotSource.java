package dev.strata.cli.command;

import dev.strata.engine.format.SnapshotInfo;
import dev.strata.engine.image.Image;

import java.util.List;

/**
 * {@code convert -l}: reading an internal snapshot as the source. qemu-img looks the snapshot up
 * by id or name (or by {@code snapshot.id=}/{@code snapshot.name=}); strata-img finds it the
 * same way but cannot yet read a snapshot's data, and says so.
 */
final class SnapshotSource {
    private static final String OPT_BASE = "snapshot.";

    private SnapshotSource() {
    }

    /** The one-line error for {@code -l PARAM} on {@code sources}. */
    static String loadFailure(List<Image> sources, String param) {
        String id = null;
        String name = null;
        if (param.startsWith(OPT_BASE)) {
            for (String part : param.split(",")) {
                if (part.startsWith("snapshot.id=")) {
                    id = part.substring("snapshot.id=".length());
                } else if (part.startsWith("snapshot.name=")) {
                    name = part.substring("snapshot.name=".length());
                }
            }
        } else if (sources.size() > 1) {
            return "No support for concatenating multiple snapshot";
        }
        List<SnapshotInfo> snapshots = sources.get(0).layers().get(0).driver().describe().snapshots();
        for (SnapshotInfo s : snapshots) {
            boolean match = param.startsWith(OPT_BASE)
                    ? (id == null || id.equals(s.id())) && (name == null || name.equals(s.name()))
                    : param.equals(s.id()) || param.equals(s.name());
            if (match) {
                return "Failed to load snapshot: reading internal snapshot '" + s.name()
                        + "' as a convert source is not supported yet";
            }
        }
        return "Failed to load snapshot: Can't find snapshot";
    }
}
