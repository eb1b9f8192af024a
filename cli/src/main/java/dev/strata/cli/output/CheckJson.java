package dev.strata.cli.output;

import dev.strata.engine.ops.check.CheckReport;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The JSON form of a {@link CheckReport}: QAPI's ImageCheck as qemu-img check --output=json
 * prints it. Optional members appear only when non-zero (qemu's has_* rules); the map is filled
 * in QAPI field order and printed in QDict order by {@link QObjectJson}.
 */
public final class CheckJson {
    private CheckJson() {
    }

    /** The ImageCheck object, in QAPI field order. */
    public static Map<String, Object> toQapi(CheckReport r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("filename", r.filename());
        m.put("format", r.format());
        m.put("check-errors", r.checkErrors());
        optional(m, "image-end-offset", r.imageEndOffset());
        optional(m, "corruptions", r.corruptions());
        optional(m, "leaks", r.leaks());
        optional(m, "corruptions-fixed", r.corruptionsFixed());
        optional(m, "leaks-fixed", r.leaksFixed());
        optional(m, "total-clusters", r.totalClusters());
        optional(m, "allocated-clusters", r.allocatedClusters());
        optional(m, "fragmented-clusters", r.fragmentedClusters());
        optional(m, "compressed-clusters", r.compressedClusters());
        return m;
    }

    /** The report as qemu-img prints it on stdout (pretty JSON and a newline). */
    public static String render(CheckReport r) {
        return QObjectJson.pretty(toQapi(r)) + "\n";
    }

    private static void optional(Map<String, Object> m, String key, long value) {
        if (value != 0) {
            m.put(key, value);
        }
    }
}
