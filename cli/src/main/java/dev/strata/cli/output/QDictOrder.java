package dev.strata.cli.output;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
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
    /** Low half of a sort key: the insertion index counted down from here. */
    private static final long LAST = 0xffffffffL;

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
        // Bucket first, then the later insertion first: one sortable key per entry (no
        // comparator lambdas on every info's path, see StartupLambdaTest).
        long[] keys = new long[list.size()];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = ((long) bucket(list.get(i).getKey()) << 32) | (LAST - i);
        }
        Arrays.sort(keys);
        List<Map.Entry<String, V>> out = new ArrayList<>(list.size());
        for (long k : keys) {
            out.add(list.get((int) (LAST - (k & LAST))));
        }
        return out;
    }
}
