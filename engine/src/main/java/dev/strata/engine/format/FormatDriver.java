package dev.strata.engine.format;

import dev.strata.engine.storage.Storage;

import java.io.Closeable;
import java.util.List;
import java.util.Optional;

/**
 * One layer of an image chain, in one format. Its core is mapping, not I/O: {@link #map} says
 * where the bytes of a guest range live, and generic code ({@code dev.strata.engine.image})
 * does the reading and the block status for every format.
 *
 * <p>Implementations are thread-safe for concurrent {@code map} calls. Requests reach a
 * driver already checked against the virtual size by the image layer.
 */
public interface FormatDriver extends Closeable {

    /** qemu's name of the format ("qcow2", "raw"). */
    String formatName();

    /** Guest-visible size in bytes. */
    long virtualSize();

    /** The host storage holding this layer's metadata (the image file itself). */
    Storage file();

    /**
     * All host storages this layer owns, {@link #file()} first (an external data file after),
     * for "disk size" and for closing.
     */
    List<Storage> storages();

    /**
     * What {@code qemu-img info} reports as "disk size": the bytes the host allocates for this
     * layer, or -1 when unknown. qemu-img 7.2 counts the image file only (an external qcow2
     * data file is not included); formats whose metadata spans several files (vmdk extents)
     * override this to sum them.
     */
    default long allocatedFileSize() {
        return file().allocatedSize();
    }

    /**
     * Where the guest bytes at {@code guestOffset} live in this layer.
     *
     * @param guestOffset offset below {@link #virtualSize()}, or at/after it for {@code Eof}
     * @param maxLength   the most the answer may cover, greater than zero
     * @return a mapping of length in (0, maxLength], or {@code Eof} when guestOffset is at or past
     *         the virtual size; drivers return runs as long as their metadata makes cheap (one
     *         table at a time), and generic code merges
     * @throws dev.strata.engine.StrataException EIO on corrupt metadata, which the driver first
     *         reports to the {@link OpenOptions#corruptionListener()} it was opened with (once
     *         per layer, where qemu signals a corruption); a driver opened with
     *         {@link OpenOptions#noIo()} may refuse to map what it needs unopened files for
     */
    Mapping map(long guestOffset, long maxLength);

    /** Whether the format can have a backing file at all (qemu's supports_backing). */
    boolean supportsBacking();

    /** The backing file this layer names, if any. */
    Optional<BackingReference> backing();

    /** Details for {@code info}. */
    LayerDescription describe();

    /**
     * The cluster size in bytes ({@link LayerDescription#clusterSize()}), 0 when the format has
     * none; drivers whose {@link #describe} does more than this answer it directly.
     */
    default long clusterSize() {
        return describe().clusterSize();
    }

    /**
     * The write side of this layer: present when the layer was opened read-write
     * ({@code !OpenOptions.readOnly()}) and the format can write; empty otherwise. Closing the
     * driver flushes what the writer still caches.
     */
    default Optional<LayerWriter> writer() {
        return Optional.empty();
    }

    /** Closes the layer and its storages. */
    @Override
    void close();
}
