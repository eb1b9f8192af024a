package dev.strata.cli.output;

import dev.strata.engine.image.Extent;

/**
 * {@code qemu-img map --output=json} as qemu-img 7.2 prints it: '[' then one entry per line,
 * entries joined by ",\n", and "]\n" after the last; no "compressed" member (7.2 has none).
 */
public final class MapJson {
    private MapJson() {
    }

    /** The text qemu prints before the first entry. */
    public static String header() {
        return "[";
    }

    /** One entry, followed by ",\n" unless it is the last. */
    public static String entry(Extent e, boolean last) {
        StringBuilder sb = new StringBuilder(128);
        appendEntry(sb, e, last);
        return sb.toString();
    }

    /** Appends {@link #entry} to {@code sb} (no intermediate string; map prints 100k+ of them). */
    public static void appendEntry(StringBuilder sb, Extent e, boolean last) {
        sb.append("{ \"start\": ").append(e.start())
                .append(", \"length\": ").append(e.length())
                .append(", \"depth\": ").append(e.depth())
                .append(", \"present\": ").append(e.present())
                .append(", \"zero\": ").append(e.zero())
                .append(", \"data\": ").append(e.data());
        if (e.hasOffset()) {
            sb.append(", \"offset\": ").append(e.offset());
        }
        sb.append('}');
        if (!last) {
            sb.append(",\n");
        }
    }

    /** The text qemu prints after the last entry. */
    public static String footer() {
        return "]\n";
    }
}
