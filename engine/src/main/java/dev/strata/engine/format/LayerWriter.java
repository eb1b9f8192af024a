package dev.strata.engine.format;

import java.nio.ByteBuffer;

/**
 * The write side of one layer opened read-write ({@link FormatDriver#writer()}). The image layer
 * ({@code dev.strata.engine.image.ImageChain}) checks every request against the virtual size and
 * the read-only flag once; writers may assume valid ranges.
 *
 * <p><b>Thread safety.</b> Every method may be called from many threads at once. Writes to
 * ranges that are already allocated in place go straight to the host; only metadata changes
 * (allocation, L2/refcount updates) are serialised, and only against each other. Concurrent
 * writes to the same guest bytes land in some order, as on a disk.
 *
 * <p><b>Crash safety.</b> A process killed at any moment (and, unless the cache mode is
 * {@code unsafe}, a host crash) leaves at most leaked clusters, never a corruption: data is
 * written before the metadata that points to it, refcounts before the entries that use them,
 * with a flush barrier between dependent updates when the cache mode honours flushes. What was
 * written before a completed {@link #flush()} reads back after a crash.
 */
public interface LayerWriter {

    /**
     * Writes {@code src} (all its remaining bytes) at {@code guestOffset}. Parts of clusters (or
     * subclusters) that the write does not cover and that this layer does not yet hold are
     * copied from {@code below} into the newly allocated space (copy-on-write).
     */
    void write(ByteBuffer src, long guestOffset, BackingReader below);

    /**
     * Makes {@code [guestOffset, guestOffset+length)} read as zeros. Where the format can record
     * zeros in metadata (qcow2 v3 zero clusters) it does so for whole clusters; with
     * {@code mayUnmap} their host space may be released. Whatever it cannot record (partial
     * clusters, qcow2 v2 over a backing file, raw without hole punching) is written as zero
     * bytes, using {@code below} for copy-on-write.
     */
    void writeZeroes(long guestOffset, long length, boolean mayUnmap, BackingReader below);

    /**
     * Discards the range as qemu's discard does: a hint that releases host space of whole
     * clusters and never fails for ranges the format cannot discard; partial clusters at the
     * edges are left unchanged. What the range reads afterwards follows qemu: a qcow2 v3 image
     * reads zeros there (discarded clusters that were allocated or cover a backing file become
     * zero clusters), a v2 image reads the backing file (the clusters become unallocated), raw
     * reads zeros (a punched hole).
     */
    void discard(long guestOffset, long length);

    /**
     * Size in bytes of the unit {@link #writeCompressed} takes (the qcow2 cluster size), or 0
     * when the format cannot store compressed data.
     */
    int compressedUnit();

    /**
     * Compresses one unit without writing anything: {@code src} holds the guest bytes of the
     * whole cluster at {@code guestOffset} (cluster aligned), or fewer for the last, partial
     * cluster of the image. Only CPU is spent, in the calling thread, so callers compress in
     * parallel and write the units afterwards in the order they want ({@link #writeCompressed}).
     * {@code src} is not consumed and must stay unchanged until the unit is written.
     *
     * @throws dev.strata.engine.StrataException ENOTSUP when {@link #compressedUnit()} is 0
     */
    CompressedUnit compress(ByteBuffer src, long guestOffset);

    /**
     * Writes a unit {@link #compress} prepared: allocates its host bytes (serialised) and stores
     * it compressed, or uncompressed when its data did not shrink, as qemu does. The cluster must
     * not be allocated in this layer yet (qemu's rule for compressed writes).
     *
     * @throws dev.strata.engine.StrataException ENOTSUP when {@link #compressedUnit()} is 0,
     *         EINVAL when the cluster is already allocated
     */
    void writeCompressed(CompressedUnit unit);

    /**
     * Changes the virtual size. Growing preallocates the new range as asked; shrinking drops
     * the mappings past the new end. A cluster that preallocation maps anew keeps what the
     * guest saw in it outside the new range, read from this layer or from {@code below}.
     *
     * @throws dev.strata.engine.StrataException ENOTSUP with qemu's message where the format
     *         cannot (qcow2 with snapshots or bitmaps, shrinking with preallocation)
     */
    void resize(long newSize, Preallocation preallocation, BackingReader below);

    /** {@link #resize(long, Preallocation, BackingReader)} of a layer with nothing below it. */
    default void resize(long newSize, Preallocation preallocation) {
        resize(newSize, preallocation, BackingReader.NONE);
    }

    /**
     * Writes out every cached metadata change and, if the cache mode honours flushes, makes all
     * completed writes durable. Called by {@code Image.flush} and on close.
     */
    void flush();
}
