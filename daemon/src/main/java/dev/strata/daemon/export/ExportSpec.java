package dev.strata.daemon.export;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What one export should serve, before anything is opened: the parsed form of the positional
 * {@code FILE} with {@code -x/-D/-f/-A}, or of one {@code --export} value.
 *
 * <p>{@code --export} values are QEMU-style key=value lists: {@code name=N,file=F} plus optional
 * {@code format=FMT}, {@code description=TEXT} and {@code allocation-depth=on|off}. A literal
 * comma inside a value is written twice ({@code ,,}), as in QEMU's option syntax.
 *
 * @param name            the NBD export name ({@code ""} is the default export)
 * @param file            the image file name as given (relative to the working directory)
 * @param format          the format name, or null to probe
 * @param description     free text for {@code NBD_INFO_DESCRIPTION} and {@code NBD_OPT_LIST}; may be empty
 * @param allocationDepth whether {@code qemu:allocation-depth} is offered (qemu-nbd's {@code -A})
 * @param bitmaps         names of persistent bitmaps offered as {@code qemu:dirty-bitmap:NAME}
 *                        (qemu-nbd's {@code -B}, in command-line order; repeats allowed, as in qemu-nbd)
 */
public record ExportSpec(String name, String file, String format, String description, boolean allocationDepth,
                         List<String> bitmaps) {

    public ExportSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(file, "file");
        description = description == null ? "" : description;
        bitmaps = List.copyOf(bitmaps);
    }

    /** An export without dirty bitmaps. */
    public ExportSpec(String name, String file, String format, String description, boolean allocationDepth) {
        this(name, file, format, description, allocationDepth, List.of());
    }

    /**
     * Parses one {@code --export} value.
     *
     * @param defaultAllocationDepth the value of {@code -A} on the command line
     * @throws IllegalArgumentException with a user-facing message for a malformed value
     */
    public static ExportSpec parse(String text, boolean defaultAllocationDepth) {
        Map<String, String> kv = splitKeyValues(text);
        String name = kv.remove("name");
        String file = kv.remove("file");
        String format = kv.remove("format");
        String description = kv.remove("description");
        String depth = kv.remove("allocation-depth");
        if (!kv.isEmpty()) {
            throw new IllegalArgumentException("--export '" + text + "': unknown key '" + kv.keySet().iterator().next()
                    + "' (known: name, file, format, description, allocation-depth)");
        }
        if (name == null) {
            throw new IllegalArgumentException("--export '" + text + "': name=... is required (name= for the default export)");
        }
        if (file == null || file.isEmpty()) {
            throw new IllegalArgumentException("--export '" + text + "': file=... is required");
        }
        boolean allocationDepth = defaultAllocationDepth;
        if (depth != null) {
            allocationDepth = parseOnOff(depth, "--export '" + text + "': allocation-depth");
        }
        return new ExportSpec(name, file, format == null || format.isEmpty() ? null : format, description, allocationDepth);
    }

    private static boolean parseOnOff(String value, String what) {
        switch (value) {
            case "on": case "yes": case "true":
                return true;
            case "off": case "no": case "false":
                return false;
            default:
                throw new IllegalArgumentException(what + " must be on or off, not '" + value + "'");
        }
    }

    /** Splits {@code k=v,k=v} with {@code ,,} as an escaped comma; keys must not repeat. */
    static Map<String, String> splitKeyValues(String text) {
        Map<String, String> out = new LinkedHashMap<>();
        int i = 0;
        int n = text.length();
        while (i < n) {
            StringBuilder part = new StringBuilder();
            while (i < n) {
                char c = text.charAt(i);
                if (c == ',') {
                    if (i + 1 < n && text.charAt(i + 1) == ',') {
                        part.append(',');
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                part.append(c);
                i++;
            }
            String p = part.toString();
            int eq = p.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("--export '" + text + "': expected key=value, got '" + p + "'");
            }
            String key = p.substring(0, eq);
            if (out.put(key, p.substring(eq + 1)) != null) {
                throw new IllegalArgumentException("--export '" + text + "': key '" + key + "' given twice");
            }
        }
        return out;
    }
}
