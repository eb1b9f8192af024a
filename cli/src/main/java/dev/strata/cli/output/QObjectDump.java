package dev.strata.cli.output;

import java.util.List;
import java.util.Map;

/**
 * The human rendering qemu-img uses for nested QAPI data ("Format specific information:"):
 * QEMU's {@code dump_qobject}. Keys in {@link QDictOrder} with dashes shown as spaces, four
 * spaces per level, list items as {@code [i]:}, a scalar on the same line as its key and a
 * composite below it.
 */
public final class QObjectDump {
    private QObjectDump() {
    }

    /** The dump of {@code value} at {@code indentation} levels, each line ending in '\n'. */
    public static String dump(int indentation, Object value) {
        StringBuilder sb = new StringBuilder();
        dumpValue(sb, indentation, value);
        return sb.toString();
    }

    private static void dumpValue(StringBuilder sb, int indentation, Object value) {
        if (value instanceof Map<?, ?> map) {
            dumpMap(sb, indentation, map);
        } else if (value instanceof List<?> list) {
            dumpList(sb, indentation, list);
        } else {
            sb.append(value);
        }
    }

    @SuppressWarnings("unchecked")
    private static void dumpMap(StringBuilder sb, int indentation, Map<?, ?> map) {
        for (Map.Entry<String, Object> e : QDictOrder.entries((Map<String, Object>) map)) {
            boolean composite = isComposite(e.getValue());
            sb.append(" ".repeat(indentation * 4)).append(e.getKey().replace('-', ' '))
                    .append(':').append(composite ? '\n' : ' ');
            dumpValue(sb, indentation + 1, e.getValue());
            if (!composite) {
                sb.append('\n');
            }
        }
    }

    private static void dumpList(StringBuilder sb, int indentation, List<?> list) {
        for (int i = 0; i < list.size(); i++) {
            Object v = list.get(i);
            boolean composite = isComposite(v);
            sb.append(" ".repeat(indentation * 4)).append('[').append(i).append("]:")
                    .append(composite ? '\n' : ' ');
            dumpValue(sb, indentation + 1, v);
            if (!composite) {
                sb.append('\n');
            }
        }
    }

    private static boolean isComposite(Object v) {
        return v instanceof Map || v instanceof List;
    }
}
