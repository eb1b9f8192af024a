package dev.strata.cli.output;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * The order in which QEMU iterates a QDict, which is the order qemu-img prints JSON objects and
 * format-specific details in. A QDict is a hash table of 512 buckets; keys are hashed with the
 * TDB hash, iteration walks buckets in ascending order, and inside one bucket the most recently
 * inserted key comes first. Our maps are {@code LinkedHashMap}s filled in QAPI field order (the
 * order QEMU's visitor inserts them), so sorting by (bucket, reverse insertion) reproduces
 * qemu's output exactly.
 */
public final class QDictOrder {
    private static final int BUCKETS = 512;

    private QDictOrder() {
    }

    /** QEMU's QDict bucket of {@code key}. */
    static int bucket(String key) {
        byte[] b = key.getBytes(StandardCharsets.UTF_8);
        int value = 0x238F13AF * b.length;
        for (int i = 0; i < b.length; i++) {
            value += (b[i] & 0xff) << (i * 5 % 24);
        }
        int hash = 1103515243 * value + 12345;
        return (int) (Integer.toUnsignedLong(hash) % BUCKETS);
    }

    /** The entries of {@code map} (in insertion order) re-ordered as QEMU would iterate them. */
    public static <V> List<Map.Entry<String, V>> entries(Map<String, V> map) {
        List<Map.Entry<String, V>> list = new ArrayList<>(map.entrySet());
        List<Integer> insertion = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            insertion.add(i);
        }
        insertion.sort(Comparator.<Integer>comparingInt(i -> bucket(list.get(i).getKey()))
                .thenComparing(Comparator.<Integer>reverseOrder()));
        List<Map.Entry<String, V>> out = new ArrayList<>(list.size());
        for (int i : insertion) {
            out.add(list.get(i));
        }
        return out;
    }
}
