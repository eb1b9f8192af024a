package dev.strata.engine.ops.dd;

/*
 * Design note: qemu-img dd reads bs-sized blocks from the input and writes each at the next
 * output position. Where the blocks fall does not change the result (the output image is
 * fresh and every byte of it is written), so the copy runs in chunks of at least a megabyte
 * (a whole number of blocks when bs is small, a piece of a block when bs is huge) instead of
 * one request per block: same bytes, same allocation, fewer calls.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.image.Image;
import dev.strata.engine.storage.IoBuffers;

import java.nio.ByteBuffer;

/** The copy step of {@code qemu-img dd}: input range to the start of a new output image. */
public final class DdOperation {
    /** Smallest copy chunk; a multiple of bs below this is rounded up to it. */
    static final int CHUNK = 1 << 20;

    private DdOperation() {
    }

    /**
     * Copies {@code [geometry.inputStart(), geometry.inputEnd())} of {@code input} to offset 0 of
     * {@code output}, then flushes the output.
     *
     * @throws DdFailure when a read, write or the flush fails
     */
    public static void copy(Image input, Image output, DdGeometry geometry) {
        long length = geometry.inputEnd() - geometry.inputStart();
        ByteBuffer buf = IoBuffers.allocate((int) Math.min(CHUNK, Math.max(length, 1)));
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(buf.capacity(), length - done);
            buf.clear().limit(n);
            try {
                input.read(buf, geometry.inputStart() + done);
            } catch (StrataException e) {
                throw new DdFailure(false, e);
            }
            buf.flip();
            try {
                output.write(buf, done);
            } catch (StrataException e) {
                throw new DdFailure(true, e);
            }
            done += n;
        }
        try {
            output.flush();
        } catch (StrataException e) {
            throw new DdFailure(true, e);
        }
    }
}
