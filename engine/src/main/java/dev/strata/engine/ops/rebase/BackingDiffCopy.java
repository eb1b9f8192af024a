package dev.strata.engine.ops.rebase;

/*
 * Design note: the safe-mode loop of qemu-img 7.2's img_rebase, which makes the image read the
 * same over the new backing file as it did over the old one. It walks the image in steps of at
 * most 2 MiB (IO_BUF_SIZE):
 *
 *  - a step starts with the image's own allocation (LayerAllocation.ofLayer, asked afresh each
 *    time, so clusters this loop allocated count): allocated runs are skipped;
 *  - when the new backing file is a layer of the old chain (prefix), runs no layer between the
 *    image and that layer allocates are skipped too: they read the same either way;
 *  - the old and new backing files are read (zeros past either's end, or for an absent new
 *    backing file); the step is shortened to the end of whichever is shorter, so each end gets
 *    a step of its own;
 *  - the two buffers are compared sector by sector (512 bytes, qemu's compare_buffers: runs of
 *    equal or different sectors); each run that differs is written into the image: the old
 *    bytes, or, when the step lies wholly past the old backing file's end, a zero write (no
 *    unmap; ZeroWriteSplit), which qcow2 v3 records as zero clusters and v2 as zero data. Partial clusters are
 *    completed by copy-on-write from the old backing chain, the image's backing file until the
 *    header changes;
 *  - every step that got past the allocation checks reports one progress tick.
 *
 * Nothing else is written: the guest view is unchanged at every moment, as in qemu.
 *
 * Speed: the new backing file is read on a second thread while this one reads the old one;
 * buffers are direct and reused; equal sector runs are skipped with one ByteBuffer.mismatch.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReader;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.ImageChain;
import dev.strata.engine.image.Layer;
import dev.strata.engine.storage.Zeros;
import dev.strata.engine.storage.IoBuffers;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;

/** Copies into an image whatever its old backing chain shows differently from the new one. */
final class BackingDiffCopy {
    /** qemu-img's IO_BUF_SIZE. */
    static final int STEP = 2 * 1024 * 1024;
    private static final int SECTOR = 512;

    private final List<Layer> chain;
    private final LayerWriter writer;
    private final Image oldBacking;
    private final Image newBacking;
    private final int prefixIndex;
    private final long zeroUnit;

    /**
     * @param chain       the image's chain: the image first, then its old backing layers
     * @param writer      the image's writer
     * @param oldBacking  the old backing chain ({@code chain} without its first layer), or null
     * @param newBacking  the new backing chain, or null for none ({@code -b ""})
     * @param prefixIndex index in {@code chain} of the layer the new backing file is, or -1
     * @param zeroUnit    the zero alignment qemu's block layer would use for zero writes into
     *                    the image (ZeroWriteSplit), or 0 to leave zero writes to the writer
     */
    BackingDiffCopy(List<Layer> chain, LayerWriter writer, Image oldBacking, Image newBacking, int prefixIndex,
                    long zeroUnit) {
        this.chain = chain;
        this.writer = writer;
        this.oldBacking = oldBacking;
        this.newBacking = newBacking;
        this.prefixIndex = prefixIndex;
        this.zeroUnit = zeroUnit;
    }

    /**
     * Runs the loop over the whole image.
     *
     * @param tick called once per step that compared data (qemu's progress print)
     * @throws StrataException with qemu's message when the image's metadata cannot be read
     *         ("error while reading image metadata: ..."), a backing file cannot be read
     *         ("error while reading from old backing file"), or a write fails ("Error while
     *         writing to COW image: ...")
     */
    void run(Runnable tick) {
        long size = chain.get(0).driver().virtualSize();
        long oldSize = oldBacking == null ? 0 : oldBacking.size();
        long newSize = newBacking == null ? 0 : newBacking.size();
        BackingReader below = oldBacking == null ? BackingReader.NONE : zeroPadded(oldBacking);
        // The image as reads see it while the loop runs; its layers are owned by the caller.
        ZeroWriteSplit zeros = new ZeroWriteSplit(writer, new ImageChain(chain), zeroUnit, below);
        ByteBuffer bufOld = IoBuffers.allocate(STEP);
        ByteBuffer bufNew = IoBuffers.allocate(STEP);
        ExecutorService newReader = newBacking == null ? null : Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "rebase-new-backing-reader");
            t.setDaemon(true);
            return t;
        });
        try {
            long n;
            for (long offset = 0; offset < size; offset += n) {
                long at = offset;
                long step = Math.min(STEP, size - offset);
                LayerAllocation.Run own = metadata(() -> LayerAllocation.ofLayer(chain.get(0).driver(), at, step));
                n = own.length();
                if (own.allocated()) {
                    continue;
                }
                if (prefixIndex >= 0) {
                    long want = n;
                    LayerAllocation.Run above = metadata(() -> LayerAllocation.above(chain, 1, prefixIndex, at, want));
                    n = above.length();
                    if (!above.allocated()) {
                        continue;
                    }
                }
                boolean oldIsZero = offset >= oldSize;
                if (!oldIsZero) {
                    n = Math.min(n, oldSize - offset);
                }
                boolean newIsZero = newBacking == null || offset >= newSize;
                if (!newIsZero) {
                    n = Math.min(n, newSize - offset);
                }
                int len = (int) n;
                CompletableFuture<Void> pendingNew = newIsZero ? null
                        : read(newReader, newBacking, bufNew, offset, len, "error while reading from new backing file");
                if (oldIsZero) {
                    zero(bufOld, len);
                } else {
                    readNow(oldBacking, bufOld, offset, len, "error while reading from old backing file");
                }
                if (newIsZero) {
                    zero(bufNew, len);
                } else {
                    join(pendingNew);
                }
                writeDifferences(bufOld, bufNew, len, offset, oldIsZero ? zeros : null, below);
                tick.run();
            }
        } finally {
            if (newReader != null) {
                newReader.shutdownNow();
            }
        }
    }

    /** compare_buffers over the step; every differing run is written into the image. */
    private void writeDifferences(ByteBuffer bufOld, ByteBuffer bufNew, int len, long offset, ZeroWriteSplit zeros,
                                  BackingReader below) {
        int written = 0;
        while (written < len) {
            int end;
            boolean differ = sectorDiffers(bufOld, bufNew, written, len);
            if (!differ) {
                // a run of equal sectors ends at the sector of the first differing byte
                int m = bufOld.slice(written, len - written).mismatch(bufNew.slice(written, len - written));
                end = m < 0 ? len : written + m / SECTOR * SECTOR;
            } else {
                end = Math.min(len, written + SECTOR);
                while (end < len && sectorDiffers(bufOld, bufNew, end, len)) {
                    end = Math.min(len, end + SECTOR);
                }
            }
            if (differ) {
                long at = offset + written;
                int pnum = end - written;
                try {
                    if (zeros != null) {
                        zeros.write(at, pnum);
                    } else {
                        writer.write(bufOld.slice(written, pnum), at, below);
                    }
                } catch (StrataException e) {
                    throw new StrataException(e.kind(), "Error while writing to COW image: " + e.kind().strerror(), e);
                }
            }
            written = end;
        }
    }

    private static boolean sectorDiffers(ByteBuffer a, ByteBuffer b, int at, int len) {
        int n = Math.min(SECTOR, len - at);
        return a.slice(at, n).mismatch(b.slice(at, n)) >= 0;
    }

    private static void zero(ByteBuffer buf, int len) {
        Zeros.fill(buf.clear().limit(len));
    }

    private static void readNow(Image image, ByteBuffer buf, long offset, int len, String failure) {
        try {
            image.read(buf.slice(0, len), offset);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), failure, e);
        }
    }

    private static CompletableFuture<Void> read(ExecutorService pool, Image image, ByteBuffer buf, long offset,
                                                int len, String failure) {
        return CompletableFuture.runAsync(() -> readNow(image, buf, offset, len, failure), pool);
    }

    private static void join(CompletableFuture<Void> f) {
        try {
            f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw e;
        }
    }

    /** An allocation query; failures get qemu's "error while reading image metadata" prefix. */
    private static LayerAllocation.Run metadata(Supplier<LayerAllocation.Run> query) {
        try {
            return query.get();
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "error while reading image metadata: " + e.kind().strerror(), e);
        }
    }

    /** The old backing chain's bytes for copy-on-write; zeros past its end. */
    private static BackingReader zeroPadded(Image image) {
        return (dst, offset) -> {
            long size = image.size();
            int inside = (int) Math.max(0, Math.min(dst.remaining(), size - offset));
            if (inside > 0) {
                ByteBuffer part = dst.slice(dst.position(), inside);
                image.read(part, offset);
                dst.position(dst.position() + inside);
            }
            Zeros.fill(dst);
        };
    }
}
