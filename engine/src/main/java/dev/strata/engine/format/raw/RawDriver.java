package dev.strata.engine.format.raw;

import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.LayerDescription;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.Mapping;
import dev.strata.engine.storage.CacheMode;
import dev.strata.engine.storage.Storage;

import java.util.List;
import java.util.Optional;

/**
 * The raw format: guest offset N is host offset N. Block status passes through to the host
 * file's holes, as qemu's raw driver does (BDRV_BLOCK_RAW).
 */
final class RawDriver implements FormatDriver {
    private final Storage file;
    private final LayerWriter writer;
    private volatile long size;

    RawDriver(Storage file, CacheMode cache) {
        this.file = file;
        // qemu's block layer counts whole 512-byte sectors: a 999-byte file is a 1024-byte disk
        // (bdrv_getlength = bdrv_nb_sectors * 512); the tail past EOF reads as zeros.
        this.size = sectorRounded(file.size());
        this.writer = file.isReadOnly() ? null : new RawWriter(this, file, cache);
    }

    private static long sectorRounded(long bytes) {
        return (bytes + 511) & ~511L;
    }

    /** After a resize: the new virtual size. */
    void setSize(long bytes) {
        this.size = sectorRounded(bytes);
    }

    @Override
    public Optional<LayerWriter> writer() {
        return Optional.ofNullable(writer);
    }

    @Override
    public String formatName() {
        return RawFormat.NAME;
    }

    @Override
    public long virtualSize() {
        return size;
    }

    @Override
    public Storage file() {
        return file;
    }

    @Override
    public List<Storage> storages() {
        return List.of(file);
    }

    @Override
    public Mapping map(long guestOffset, long maxLength) {
        if (guestOffset >= size) {
            return new Mapping.Eof();
        }
        long len = Math.min(maxLength, size - guestOffset);
        return new Mapping.Raw(file, guestOffset, len, Mapping.HostHoles.PASSTHROUGH);
    }

    @Override
    public boolean supportsBacking() {
        return false;
    }

    @Override
    public Optional<BackingReference> backing() {
        return Optional.empty();
    }

    @Override
    public LayerDescription describe() {
        return LayerDescription.plain();
    }

    @Override
    public void close() {
        try {
            if (writer != null) {
                writer.flush();
            }
        } finally {
            file.close();
        }
    }
}
