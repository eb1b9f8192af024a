package dev.strata.cli.output;

import dev.strata.engine.image.Extent;

/**
 * {@code qemu-img map} human output as qemu-img 7.2's {@code dump_map_entry} prints it: a
 * header, then one line per data range ({@code %#-16x} offset, length and host offset, then the
 * file name). Zero and unallocated ranges are not shown; qemu-img also treats every entry but
 * the first that is not plain data as zero (its coalescing trick), which decides where the
 * "external, encrypted or compressed clusters" error can arise.
 */
public final class MapText {
    /** qemu-img's error for data it cannot locate in a file. */
    public static final String NO_OFFSET_ERROR = "File contains external, encrypted or compressed clusters.";

    private MapText() {
    }

    /** The column titles line. */
    public static String header() {
        return String.format("%-16s%-16s%-16s%s%n", "Offset", "Length", "Mapped to", "File");
    }

    /** What to do with one entry. */
    public sealed interface Line {
        /** Print this text. */
        record Print(String text) implements Line {
        }

        /** Print nothing. */
        record Skip() implements Line {
        }

        /** Fail with {@link #NO_OFFSET_ERROR}. */
        record Error() implements Line {
        }
    }

    /**
     * The line of one entry.
     *
     * @param first whether this is the first entry of the walk (qemu never rewrites its flags)
     */
    public static Line entry(Extent e, boolean first) {
        if (fails(e, first)) {
            return new Line.Error();
        }
        if (e.data() && !e.zero()) {
            return new Line.Print(pad(CFormat.alternateHex(e.start())) + pad(CFormat.alternateHex(e.length()))
                    + pad(CFormat.alternateHex(e.hasOffset() ? e.offset() : 0))
                    + (e.file() == null ? "" : e.file()) + "\n");
        }
        return new Line.Skip();
    }

    /**
     * Whether {@link #entry} is an {@link Line.Error} for this entry: data (which, after the first
     * entry, qemu-img only keeps when it is not also zero) that has no offset in a file.
     */
    public static boolean fails(Extent e, boolean first) {
        return e.data() && (first || !e.zero()) && !e.hasOffset();
    }

    private static String pad(String s) {
        return s.length() >= 16 ? s : s + " ".repeat(16 - s.length());
    }
}
