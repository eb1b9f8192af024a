package dev.strata.engine.format;

import dev.strata.engine.storage.Storage;

/**
 * A format's entry in the {@link FormatRegistry}: a probe and an opener, nbdkit-style.
 */
public interface FormatFactory {

    /** qemu's name of the format, as given to {@code -f}. */
    String name();

    /**
     * Whether strata-img can open this format. A recognised but unsupported format (its probe
     * keeps such images from passing as raw; its open refuses) answers false and is left out of
     * {@link FormatRegistry#names()}.
     */
    default boolean supported() {
        return true;
    }

    /**
     * How sure this format is that {@code header} (the first bytes of the file, at most 2048,
     * fewer if the file is shorter) belongs to it: 0 for no, 100 for a magic match, 1 for raw.
     */
    int probe(byte[] header, String fileName);

    /**
     * Opens one layer over {@code file}. The driver owns {@code file} from now on and closes it.
     * Unless {@link OpenOptions#noIo()}, the layer is made ready for I/O as qemu's open would
     * (other files it needs are opened, what qemu cannot read without a secret is refused).
     *
     * @throws dev.strata.engine.StrataException with qemu's message when the header is invalid or
     *         the layer cannot be opened for I/O
     */
    FormatDriver open(Storage file, OpenOptions options);
}
