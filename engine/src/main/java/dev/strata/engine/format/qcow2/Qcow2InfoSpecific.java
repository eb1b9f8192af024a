package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu-img info's "format-specific" data for qcow2 (qcow2_get_specific_info),
 * built as an ordered map in the QAPI field order of ImageInfoSpecificQCow2: compat,
 * data-file, data-file-raw, extended-l2, lazy-refcounts, corrupt, refcount-bits, encrypt,
 * bitmaps, compression-type. compat=0.10 images carry only compat, refcount-bits, encrypt and
 * compression-type, as in qemu. Renderers (human and JSON) live elsewhere.
 */

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Builds the format-specific info tree of a qcow2 layer. */
final class Qcow2InfoSpecific {
    private Qcow2InfoSpecific() {
    }

    /**
     * @param header  the image header
     * @param bitmaps the bitmap directory (empty when there are no consistent bitmaps)
     * @param luks    the LUKS header for LUKS-encrypted images, or null
     */
    static Map<String, Object> build(Qcow2Header header, Qcow2BitmapDirectory bitmaps, Qcow2LuksHeader luks) {
        Map<String, Object> m = new LinkedHashMap<>();
        boolean v3 = header.version() >= 3;
        m.put("compat", v3 ? "1.1" : "0.10");
        if (v3) {
            String dataFile = header.dataFileName();
            if (dataFile != null) {
                m.put("data-file", dataFile);
            }
            if (header.hasDataFile()) {
                m.put("data-file-raw", header.dataFileRaw());
            }
            m.put("extended-l2", header.extendedL2());
            m.put("lazy-refcounts", header.lazyRefcounts());
            m.put("corrupt", header.corrupt());
        }
        m.put("refcount-bits", (long) header.refcountBits());
        Map<String, Object> encrypt = encrypt(header, luks);
        if (encrypt != null) {
            m.put("encrypt", encrypt);
        }
        if (v3 && !bitmaps.entries().isEmpty()) {
            List<Object> list = new ArrayList<>();
            for (Qcow2BitmapDirectory.Entry e : bitmaps.entries()) {
                Map<String, Object> bm = new LinkedHashMap<>();
                bm.put("name", e.name());
                bm.put("granularity", e.granularity());
                bm.put("flags", List.copyOf(e.flagNames()));
                list.add(bm);
            }
            m.put("bitmaps", list);
        }
        m.put("compression-type", Qcow2Compression.name(header.compressionType()));
        return m;
    }

    private static Map<String, Object> encrypt(Qcow2Header header, Qcow2LuksHeader luks) {
        if (header.cryptMethod() == 1) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("format", "aes");
            return m;
        }
        if (header.cryptMethod() == 2 && luks != null) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("format", "luks");
            m.putAll(luks.infoMembers());
            return m;
        }
        return null;
    }
}
