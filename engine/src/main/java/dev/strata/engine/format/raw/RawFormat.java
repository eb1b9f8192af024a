package dev.strata.engine.format.raw;

import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.FormatFactory;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.storage.Storage;

/** Registry entry for raw images: always a candidate, with the lowest score (qemu's 1). */
public final class RawFormat implements FormatFactory {
    /** qemu's name of the format. */
    public static final String NAME = "raw";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int probe(byte[] header, String fileName) {
        return 1;
    }

    @Override
    public FormatDriver open(Storage file, OpenOptions options) {
        return new RawDriver(file, options.cache());
    }
}
