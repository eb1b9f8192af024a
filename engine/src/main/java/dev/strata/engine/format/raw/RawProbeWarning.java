package dev.strata.engine.format.raw;

/**
 * The warning qemu's raw driver prints when an image whose format was probed as raw is opened
 * read-write (qemu then restricts writes to its first sector, which strata does not need to).
 */
public final class RawProbeWarning {
    private RawProbeWarning() {
    }

    /** The three lines qemu prints on stderr, newline-terminated, for the file {@code fileName}. */
    public static String text(String fileName) {
        return "WARNING: Image format was not specified for '" + fileName + "' and probing guessed raw.\n"
                + "         Automatically detecting the format is dangerous for raw images, write operations"
                + " on block 0 will be restricted.\n"
                + "         Specify the 'raw' format explicitly to remove the restrictions.\n";
    }
}
