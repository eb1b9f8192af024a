package dev.strata.engine.format;

/**
 * A layer's reference to its backing file, as recorded in the image.
 *
 * @param fileName the name exactly as stored (relative names are relative to the directory of
 *                 the image that holds the reference)
 * @param format   the backing format recorded in the image, or null when the image records none
 */
public record BackingReference(String fileName, String format) {
}
