package dev.strata.engine.format.raw;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReader;
import dev.strata.engine.format.CompressedUnit;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.storage.CacheMode;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/**
 * The write side of a raw layer: guest offset N is host offset N, so every write goes straight
 * to the host file; zeros and discards punch holes where the host can. There is no metadata,
 * hence nothing to order for crash safety, and no locking.
 */
final class RawWriter implements LayerWriter {
    private final RawDriver driver;
    private final Storage file;
    private final CacheMode cache;

    RawWriter(RawDriver driver, Storage file, CacheMode cache) {
        this.driver = driver;
        this.file = file;
        this.cache = cache;
    }

    @Override
    public void write(ByteBuffer src, long guestOffset, BackingReader below) {
        file.write(src, guestOffset);
        if (cache.flushEachWrite()) {
            file.flush();
        }
    }

    @Override
    public void writeZeroes(long guestOffset, long length, boolean mayUnmap, BackingReader below) {
        if (mayUnmap) {
            file.punchHole(guestOffset, length);
        } else {
            Storage.writeZeros(file, guestOffset, length);
        }
        if (cache.flushEachWrite()) {
            file.flush();
        }
    }

    @Override
    public void discard(long guestOffset, long length) {
        file.punchHole(guestOffset, length);
    }

    @Override
    public int compressedUnit() {
        return 0;
    }

    @Override
    public CompressedUnit compress(ByteBuffer src, long guestOffset) {
        throw StrataException.unsupported("Compression is not supported for this drive " + file.name());
    }

    @Override
    public void writeCompressed(CompressedUnit unit) {
        throw StrataException.unsupported("Compression is not supported for this drive " + file.name());
    }

    /** {@inheritDoc} The file is set to exactly {@code newSize} bytes. */
    @Override
    public void resize(long newSize, Preallocation preallocation, BackingReader below) {
        long old = file.size();
        // Every refusal comes before the file is touched.
        if (newSize < old && preallocation != Preallocation.OFF) {
            throw StrataException.unsupported("Preallocation can only be used for growing images");
        }
        if (preallocation == Preallocation.METADATA) {
            throw StrataException.unsupported("Unsupported preallocation mode: metadata");
        }
        if (preallocation == Preallocation.FULL && newSize > old) {
            file.growWithZeros(newSize);
        } else {
            file.truncate(newSize);
            if (newSize > old && preallocation == Preallocation.FALLOC) {
                file.preallocate(old, newSize - old);
            }
        }
        driver.setSize(newSize);
    }

    @Override
    public void flush() {
        if (cache.honoursFlush()) {
            file.flush();
        }
    }
}
