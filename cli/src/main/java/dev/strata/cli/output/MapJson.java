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

    private static final byte[] START = AsciiBuffer.ascii("{ \"start\": ");
    private static final byte[] LENGTH = AsciiBuffer.ascii(", \"length\": ");
    private static final byte[] DEPTH = AsciiBuffer.ascii(", \"depth\": ");
    private static final byte[] PRESENT = AsciiBuffer.ascii(", \"present\": ");
    private static final byte[] ZERO = AsciiBuffer.ascii(", \"zero\": ");
    private static final byte[] DATA = AsciiBuffer.ascii(", \"data\": ");
    private static final byte[] OFFSET = AsciiBuffer.ascii(", \"offset\": ");
    private static final byte[] SEPARATOR = AsciiBuffer.ascii(",\n");

    /** One entry, followed by ",\n" unless it is the last. */
    public static String entry(Extent e, boolean last) {
        AsciiBuffer b = new AsciiBuffer(128);
        appendEntry(b, e, last);
        return b.toString();
    }

    /** Appends {@link #entry} to {@code b} (map prints 100k+ of them: no strings in between). */
    public static void appendEntry(AsciiBuffer b, Extent e, boolean last) {
        b.append(START).append(e.start())
                .append(LENGTH).append(e.length())
                .append(DEPTH).append(e.depth())
                .append(PRESENT).append(e.present())
                .append(ZERO).append(e.zero())
                .append(DATA).append(e.data());
        if (e.hasOffset()) {
            b.append(OFFSET).append(e.offset());
        }
        b.append('}');
        if (!last) {
            b.append(SEPARATOR);
        }
    }

    /** The text qemu prints after the last entry. */
    public static String footer() {
        return "]\n";
    }
}
