package dev.strata.engine.ops.resize;

/*
 * Design note: qemu-img 7.2's img_resize after its argument parsing, in qemu's order:
 *  - open the image read-write (its backing chain too, read-only, as qemu's open does; a
 *    missing backing file fails the open); a format probed as raw warns, as qemu's raw driver
 *    does for every writable probed open;
 *  - the new size from the current virtual size (relative sizes wrap as int64 arithmetic does,
 *    so "+8E" ends up "not positive");
 *  - refusals: not positive, preallocation without growth, shrinking without --shrink;
 *  - bdrv_co_truncate: when the image grows over a backing file that is longer than the old
 *    size, the new range must read as zeros rather than the backing file's bytes, so it is
 *    zeroed (BDRV_REQ_ZERO_WRITE); then the layer's own resize (LayerWriter.resize) runs.
 *    qcow2 zeroes that range inside its truncate, so the zeroing marks no dirty bitmap; the
 *    layer's own resize checks and resizes the persistent bitmaps.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReader;
import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.format.raw.RawProbeWarning;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.info.ImageSource;
import dev.strata.engine.storage.LockRequest;

import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.function.Consumer;

/** Changes the virtual size of an image (qemu-img resize). */
public final class ResizeOp {
    private ResizeOp() {
    }

    /** What a successful resize did. */
    public record Resized(long oldSize, long newSize) {
    }

    /**
     * Opens {@code source} read-write and resizes it as qemu-img resize does.
     *
     * @param size     the size argument
     * @param prealloc preallocation of the new range
     * @param shrink   qemu-img's --shrink
     * @param warnings receives text qemu prints on stderr as is during the open (the probed-raw
     *                 warning, newline-terminated lines)
     * @param diagnostics what the image's opens print on stderr (the repair of a dirty
     *                    qcow2 image, the stale-bitmaps warning), see {@link OpenOptions#diagnostics()}
     * @throws ShrinkNotAllowed when the image would shrink without {@code shrink}
     * @throws StrataException  with qemu-img's message otherwise (open failures with their
     *                          "Could not open 'NAME': " prefix)
     */
    public static Resized run(ImageSource source, ResizeSize size, Preallocation prealloc, boolean shrink,
                              Consumer<String> warnings, CheckListener diagnostics) {
        ChainOpener opener = ChainOpener.standard();
        Layer top;
        Image below = null;
        try {
            top = opener.openLayer(source.fileName(), source.format(),
                    new OpenOptions(false, false, true).withDiagnostics(diagnostics));
            try {
                below = openBacking(opener, top, diagnostics);
            } catch (StrataException e) {
                top.driver().close();
                throw e;
            }
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(source.displayName(), e), e);
        }
        FormatDriver driver = top.driver();
        try {
            if (top.probed() && "raw".equals(driver.formatName())) {
                warnings.accept(RawProbeWarning.text(source.fileName()));
            }
            claimResize(driver, source);
            long current = driver.virtualSize();
            long total = size.applyTo(current);
            if (total <= 0) {
                throw StrataException.invalid("New image size must be positive");
            }
            if (total <= current && prealloc != Preallocation.OFF) {
                throw StrataException.invalid("Preallocation can only be used for growing images");
            }
            if (total < current && !shrink) {
                throw new ShrinkNotAllowed();
            }
            if ("raw".equals(driver.formatName()) && prealloc == Preallocation.METADATA) {
                // file-posix refuses the mode before it touches the file
                throw StrataException.unsupported("Unsupported preallocation mode: metadata");
            }
            truncate(driver, below, total, prealloc);
            return new Resized(current, total);
        } finally {
            driver.close();
            if (below != null) {
                below.close();
            }
        }
    }

    /**
     * blk_truncate of an open image's top layer {@code top}: the writer's resize, then, when the
     * image grows over a backing chain {@code below} (null: none) longer than its old size, the
     * new range zeroed inside the driver (no dirty bitmap marks it; a partial cluster keeps the
     * backing bytes, zeros past the backing's end) unless falloc/full preallocation gave it
     * clusters of its own; then flushed.
     *
     * @throws StrataException ENOTSUP when the format cannot resize, else the writer's errors
     */
    public static void truncate(FormatDriver top, Image below, long newSize, Preallocation prealloc) {
        LayerWriter writer = top.writer().orElseThrow(() -> new StrataException(ErrorKind.ENOTSUP,
                "Image format driver does not support resize"));
        long current = top.virtualSize();
        writer.resize(newSize, prealloc, below == null ? BackingReader.NONE : reader(below));
        // falloc/full: the new clusters already read as zeros, and qemu-img 7.2 leaves them
        // plain data clusters (measured: no zero flags, unlike off and metadata)
        boolean allocated = prealloc == Preallocation.FALLOC || prealloc == Preallocation.FULL;
        if (below != null && newSize > current && below.size() > current && !allocated) {
            Runnable zero = () -> writer.writeZeroes(current, newSize - current, false, reader(below));
            if (top instanceof Qcow2Driver q) {
                q.persistentBitmaps().untracked(zero);
            } else {
                zero.run();
            }
        }
        writer.flush();
    }

    /**
     * qemu-img resize asks for the resize permission on a raw file once the image is open (after
     * the probe's warning): another program that refuses to share resizing (qemu-nbd exporting
     * it) fails the open. A qcow2 file's writer claim already includes resizing.
     */
    private static void claimResize(FormatDriver driver, ImageSource source) {
        if ("raw".equals(driver.formatName())) {
            try {
                driver.storages().get(0).lock(LockRequest.rawFile(false, false, true));
            } catch (StrataException e) {
                throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(source.displayName(), e), e);
            }
        }
    }

    /**
     * The backing chain of {@code top}, opened read-only (what its opens print goes to
     * {@code diagnostics}), or null when it has none.
     */
    private static Image openBacking(ChainOpener opener, Layer top, CheckListener diagnostics) {
        Optional<BackingReference> ref = top.driver().backing();
        if (ref.isEmpty() || ref.get().fileName().isEmpty()) {
            return null;
        }
        String name = PathNames.combine(top.fileName(), ref.get().fileName());
        try {
            return opener.open(name, ref.get().format(),
                    new OpenOptions(true, false, false).withDiagnostics(diagnostics));
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Could not open backing file: " + e.getMessage(), e);
        }
    }

    /** The backing chain's bytes for copy-on-write; zeros past its end. */
    private static BackingReader reader(Image below) {
        return (dst, offset) -> {
            long size = below.size();
            int inside = (int) Math.max(0, Math.min(dst.remaining(), size - offset));
            if (inside > 0) {
                ByteBuffer part = dst.slice(dst.position(), inside);
                below.read(part, offset);
                dst.position(dst.position() + inside);
            }
            while (dst.hasRemaining()) {
                dst.put((byte) 0);
            }
        };
    }
}
