package dev.strata.engine.ops.info;

/**
 * Which image an operation opens, and the name qemu-img uses for it in "Could not open"
 * errors (the file name, or the whole option string with {@code --image-opts}).
 *
 * @param fileName    host file to open
 * @param format      format name, or null to probe
 * @param displayName name for error messages
 */
public record ImageSource(String fileName, String format, String displayName) {
    /** A plain file name, as given on the command line. */
    public static ImageSource file(String fileName, String format) {
        return new ImageSource(fileName, format, fileName);
    }
}
