package dev.strata.engine.image;

import dev.strata.engine.format.CompressedUnit;

import java.io.Closeable;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A guest disk: a chain of layers seen as one device. This is what exports and operations use.
 * Requests are checked here, once (range, read-only); drivers below may assume them valid.
 * Thread-safe: any number of threads may read, write and query block status at once.
 */
public interface Image extends Closeable {

    /** Guest-visible size in bytes (the top layer's virtual size). */
    long size();

    /** The layers, top first. */
    List<Layer> layers();

    /**
     * Reads {@code dst.remaining()} guest bytes at {@code offset}.
     *
     * @throws dev.strata.engine.StrataException EINVAL if the range is outside the image, EIO on
     *         corrupt metadata or host errors, ENOTSUP for data that cannot be decoded (encrypted)
     */
    void read(ByteBuffer dst, long offset);

    /**
     * The block status of the guest range starting at {@code offset}: QEMU's
     * {@code get_block_status} as {@code qemu-img map} calls it. The answer starts at
     * {@code offset}, covers between 1 byte and {@code maxLength} bytes, and has one status.
     *
     * @throws dev.strata.engine.StrataException EINVAL if offset is outside the image
     */
    Extent blockStatusAt(long offset, long maxLength);

    /**
     * The block status of [offset, offset+length) as a merged, contiguous list: exactly the
     * entries of {@code qemu-img map --output=json --start-offset=offset --max-length=length}.
     */
    List<Extent> blockStatus(long offset, long length);

    /**
     * Writes {@code src} (all its remaining bytes) at guest offset {@code offset} into the top
     * layer, copying from the backing chain where a partly written cluster needs it.
     *
     * @throws dev.strata.engine.StrataException EPERM if the image is read-only, EINVAL if the
     *         range is outside the image, ENOSPC/EIO on host errors
     */
    void write(ByteBuffer src, long offset);

    /**
     * Makes the range read as zeros (NBD WRITE_ZEROES); with {@code mayUnmap} host space may be
     * released (the absence of NBD_CMD_FLAG_NO_HOLE).
     *
     * @throws dev.strata.engine.StrataException as {@link #write}
     */
    void writeZeroes(long offset, long length, boolean mayUnmap);

    /**
     * Discards the range (NBD TRIM): a hint after which the range may read as zeros or, in an
     * overlay, as the backing file. Never fails for ranges the format cannot discard.
     *
     * @throws dev.strata.engine.StrataException EPERM if read-only, EINVAL outside the image
     */
    void discard(long offset, long length);

    /**
     * The unit of {@link #writeCompressed} in bytes (the qcow2 cluster size), 0 when the top
     * layer cannot store compressed data or the image is read-only.
     */
    int compressedUnit();

    /**
     * Compresses one unit of guest data for the top layer without writing it (qemu's compressed
     * write, first half): offset aligned to {@link #compressedUnit()}, length one unit, or less
     * for the last unit of the image. Only CPU, in the calling thread: callers compress in
     * parallel, then write the units ({@link #writeCompressed(CompressedUnit)}) in their order.
     * {@code src} is not consumed and must stay unchanged until the unit is written.
     *
     * @throws dev.strata.engine.StrataException ENOTSUP when {@link #compressedUnit()} is 0,
     *         EINVAL for a misaligned unit
     */
    CompressedUnit compress(ByteBuffer src, long offset);

    /**
     * Writes a unit {@link #compress} prepared into the top layer: host space is allocated at
     * the time of this call, so units written in guest order sit in the file as qemu puts them.
     *
     * @throws dev.strata.engine.StrataException EINVAL when the unit is already allocated
     */
    void writeCompressed(CompressedUnit unit);

    /**
     * Compresses and writes one unit ({@link #compress}, then {@link #writeCompressed(CompressedUnit)});
     * {@code src} is consumed.
     */
    default void writeCompressed(ByteBuffer src, long offset) {
        writeCompressed(compress(src, offset));
        src.position(src.limit());
    }

    /** Writes out cached metadata and makes completed writes durable (as the cache mode allows). */
    void flush();

    /** What this image permits. */
    Capabilities capabilities();

    /** Flushes (when writable) and closes every layer. */
    @Override
    void close();
}
