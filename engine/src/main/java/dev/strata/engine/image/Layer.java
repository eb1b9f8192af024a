package dev.strata.engine.image;

import dev.strata.engine.format.FormatDriver;

/**
 * One opened layer of a chain with the names qemu would print for it.
 *
 * @param driver     the format driver
 * @param fileName   the name the layer was opened under (for a backing file: the backing
 *                   reference combined with the overlay's directory, as qemu's
 *                   {@code path_combine} does)
 * @param probed     the format was guessed by probing, not given or recorded
 */
public record Layer(FormatDriver driver, String fileName, boolean probed) {
}
