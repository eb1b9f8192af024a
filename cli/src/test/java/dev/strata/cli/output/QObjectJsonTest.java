package dev.strata.cli.output;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.strata.cli.RealQemu;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * QDictOrder and QObjectJson against the real qemu-img: the JSON qemu-img info prints is parsed,
 * its members are re-inserted in QAPI field order (the order QEMU's visitor inserts them), and
 * our pretty printer must reproduce qemu's text exactly, member order included; likewise the
 * human dump of the format-specific part.
 */
class QObjectJsonTest {
    /** QAPI field order of ImageInfo, SnapshotInfo, ImageInfoSpecific and ImageInfoSpecificQCow2. */
    private static final List<String> QAPI_ORDER = List.of(
            "filename", "format", "dirty-flag", "actual-size", "virtual-size", "cluster-size", "encrypted",
            "compressed", "backing-filename", "full-backing-filename", "backing-filename-format", "snapshots",
            "backing-image", "format-specific",
            "id", "name", "vm-state-size", "date-sec", "date-nsec", "vm-clock-sec", "vm-clock-nsec", "icount",
            "type", "data",
            "compat", "data-file", "data-file-raw", "extended-l2", "lazy-refcounts", "corrupt", "refcount-bits",
            "encrypt", "bitmaps", "compression-type");

    @Test
    void rawAndQcow2InfoJson(@TempDir Path dir) throws Exception {
        RealQemu.mustQemuImg(dir, "create", "-f", "raw", "a.raw", "3M");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-o", "lazy_refcounts=on", "b.qcow2", "5M");
        RealQemu.mustQemuImg(dir, "snapshot", "-c", "s1", "b.qcow2");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "c.qcow2");
        for (String f : List.of("a.raw", "b.qcow2", "c.qcow2")) {
            String real = RealQemu.mustQemuImg(dir, "info", "--output=json", f).out();
            Object tree = qapiOrdered(new ObjectMapper().readTree(real));
            assertEquals(real, QObjectJson.pretty(tree) + "\n", f);
        }
        String chain = RealQemu.mustQemuImg(dir, "info", "--output=json", "--backing-chain", "c.qcow2").out();
        assertEquals(chain, QObjectJson.pretty(qapiOrdered(new ObjectMapper().readTree(chain))) + "\n");
    }

    @Test
    void formatSpecificDump(@TempDir Path dir) throws Exception {
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-o", "data_file=d.raw", "q.qcow2", "1M");
        String json = RealQemu.mustQemuImg(dir, "info", "--output=json", "q.qcow2").out();
        String human = RealQemu.mustQemuImg(dir, "info", "q.qcow2").out();
        @SuppressWarnings("unchecked")
        Map<String, Object> info = (Map<String, Object>) qapiOrdered(new ObjectMapper().readTree(json));
        @SuppressWarnings("unchecked")
        Map<String, Object> spec = (Map<String, Object>) info.get("format-specific");
        String dump = QObjectDump.dump(1, spec.get("data"));
        String tail = human.substring(human.indexOf("Format specific information:\n") + 29);
        assertEquals(tail, dump);
    }

    @Test
    void bucketsAreQemus() {
        // Iteration order of qemu's ImageInfo keys for a raw image, from the real tool.
        Map<String, Object> m = new LinkedHashMap<>();
        for (String k : List.of("filename", "format", "dirty-flag", "actual-size", "virtual-size")) {
            m.put(k, 0L);
        }
        List<String> order = QDictOrder.entries(m).stream().map(Map.Entry::getKey).toList();
        assertEquals(List.of("virtual-size", "filename", "format", "actual-size", "dirty-flag"), order);
    }

    private static Object qapiOrdered(JsonNode n) {
        if (n.isObject()) {
            List<String> keys = new ArrayList<>();
            Iterator<String> it = n.fieldNames();
            it.forEachRemaining(keys::add);
            keys.sort(Comparator.comparingInt(k -> {
                int i = QAPI_ORDER.indexOf(k);
                return i < 0 ? Integer.MAX_VALUE : i;
            }));
            Map<String, Object> m = new LinkedHashMap<>();
            for (String k : keys) {
                m.put(k, qapiOrdered(n.get(k)));
            }
            return m;
        } else if (n.isArray()) {
            List<Object> l = new ArrayList<>();
            n.forEach(e -> l.add(qapiOrdered(e)));
            return l;
        } else if (n.isBoolean()) {
            return n.booleanValue();
        } else if (n.isIntegralNumber()) {
            return n.longValue();
        } else if (n.isNull()) {
            return null;
        }
        return n.textValue();
    }
}
