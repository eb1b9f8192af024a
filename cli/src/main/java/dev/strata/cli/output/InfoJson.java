package dev.strata.cli.output;

import dev.strata.engine.format.SnapshotInfo;
import dev.strata.engine.ops.info.ImageInfo;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code qemu-img info --output=json}: QEMU's ImageInfo as a QObject (members inserted in QAPI
 * field order, printed in {@link QDictOrder} by {@link QObjectJson}), one object, or a list
 * with {@code --backing-chain}; followed by a newline.
 */
public final class InfoJson {
    private InfoJson() {
    }

    /** The JSON text of one image, with the trailing newline. */
    public static String render(ImageInfo info) {
        return QObjectJson.pretty(tree(info)) + "\n";
    }

    /** The JSON text of a chain (a list), with the trailing newline. */
    public static String renderList(List<ImageInfo> infos) {
        List<Object> list = new ArrayList<>();
        for (ImageInfo i : infos) {
            list.add(tree(i));
        }
        return QObjectJson.pretty(list) + "\n";
    }

    /** ImageInfo as an insertion-ordered tree, QAPI field order. */
    public static Map<String, Object> tree(ImageInfo info) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("filename", info.filename());
        m.put("format", info.format());
        if (info.actualSize() >= 0 || !"raw".equals(info.format())) {
            // raw asks its protocol for bdrv_get_info; NBD (no disk size either) has none, so
            // qemu leaves dirty-flag out for raw over NBD
            m.put("dirty-flag", info.dirtyFlag());
        }
        if (info.actualSize() >= 0) {
            m.put("actual-size", info.actualSize());
        }
        m.put("virtual-size", info.virtualSize());
        if (info.clusterSize() != 0) {
            m.put("cluster-size", info.clusterSize());
        }
        if (info.encrypted()) {
            m.put("encrypted", true);
        }
        if (info.backingFilename() != null) {
            m.put("backing-filename", info.backingFilename());
            if (info.fullBackingFilename() != null) {
                m.put("full-backing-filename", info.fullBackingFilename());
            }
            if (info.backingFormat() != null) {
                m.put("backing-filename-format", info.backingFormat());
            }
        }
        if (!info.snapshots().isEmpty()) {
            List<Object> snaps = new ArrayList<>();
            for (SnapshotInfo s : info.snapshots()) {
                snaps.add(snapshot(s));
            }
            m.put("snapshots", snaps);
        }
        if (info.formatSpecific() != null) {
            Map<String, Object> spec = new LinkedHashMap<>();
            spec.put("type", info.formatSpecificType());
            spec.put("data", info.formatSpecific());
            m.put("format-specific", spec);
        }
        return m;
    }

    /** One SnapshotInfo, QAPI field order. */
    static Map<String, Object> snapshot(SnapshotInfo s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", s.id());
        m.put("name", s.name());
        m.put("vm-state-size", s.vmStateSize());
        m.put("date-sec", s.dateSec());
        m.put("date-nsec", s.dateNsec());
        m.put("vm-clock-sec", s.vmClockNsec() / 1_000_000_000L);
        m.put("vm-clock-nsec", s.vmClockNsec() % 1_000_000_000L);
        if (s.icount() != -1) {
            m.put("icount", s.icount());
        }
        return m;
    }
}
