package dev.strata.engine.image;

import java.io.Closeable;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A guest disk: a chain of layers seen as one device. This is what exports and operations use.
 * Requests are checked here, once (range, read-only); drivers below may assume them valid.
 * Thread-safe: any number of threads may read and query block status at once.
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

    /** What this image permits. */
    Capabilities capabilities();

    /** Closes every layer. */
    @Override
    void close();
}
