package dev.strata.cli.output;

import java.util.List;
import java.util.Map;

/**
 * JSON text exactly as QEMU's {@code qobject_to_json_pretty} writes it: four-space indent,
 * {@code "key": value}, objects in {@link QDictOrder}, empty containers as an opening bracket,
 * a newline and the closing bracket, non-ASCII and control characters as upper-case
 * {@code \\uXXXX} escapes.
 *
 * <p>Values are {@code Map<String, ?>} (insertion order = QAPI field order), {@code List<?>},
 * {@code String}, {@code Boolean}, integral {@code Number}s, or null.
 */
public final class QObjectJson {
    private QObjectJson() {
    }

    /** Pretty JSON of {@code value}, without a trailing newline. */
    public static String pretty(Object value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value, true, 0);
        return sb.toString();
    }

    /** Compact JSON of {@code value} (qemu's non-pretty form: ", " and ": " separators). */
    public static String compact(Object value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value, false, 0);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object value, boolean pretty, int indent) {
        if (value == null) {
            sb.append("null");
        } else if (value instanceof Map<?, ?> map) {
            writeObject(sb, map, pretty, indent);
        } else if (value instanceof List<?> list) {
            writeList(sb, list, pretty, indent);
        } else if (value instanceof String s) {
            writeString(sb, s);
        } else if (value instanceof Boolean || value instanceof Long || value instanceof Integer
                || value instanceof Short || value instanceof Byte) {
            sb.append(value);
        } else {
            throw new IllegalArgumentException("not a JSON value: " + value.getClass());
        }
    }

    @SuppressWarnings("unchecked")
    private static void writeObject(StringBuilder sb, Map<?, ?> map, boolean pretty, int indent) {
        sb.append('{');
        String sep = "";
        for (Map.Entry<String, Object> e : QDictOrder.entries((Map<String, Object>) map)) {
            sb.append(sep);
            newline(sb, pretty, indent + 1);
            writeString(sb, e.getKey());
            sb.append(": ");
            write(sb, e.getValue(), pretty, indent + 1);
            sep = pretty ? "," : ", ";
        }
        newline(sb, pretty, indent);
        sb.append('}');
    }

    private static void writeList(StringBuilder sb, List<?> list, boolean pretty, int indent) {
        sb.append('[');
        String sep = "";
        for (Object v : list) {
            sb.append(sep);
            newline(sb, pretty, indent + 1);
            write(sb, v, pretty, indent + 1);
            sep = pretty ? "," : ", ";
        }
        newline(sb, pretty, indent);
        sb.append(']');
    }

    private static void newline(StringBuilder sb, boolean pretty, int indent) {
        if (pretty) {
            sb.append('\n');
            sb.append(" ".repeat(indent * 4));
        }
    }

    /** A JSON string literal with qemu's escaping. */
    static void writeString(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            switch (cp) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (cp > 0xFFFF) {
                        char[] pair = Character.toChars(cp);
                        sb.append(String.format("\\u%04X\\u%04X", (int) pair[0], (int) pair[1]));
                    } else if (cp < 0x20 || cp >= 0x7F) {
                        sb.append(String.format("\\u%04X", cp));
                    } else {
                        sb.append((char) cp);
                    }
                }
            }
        }
        sb.append('"');
    }
}
