package dev.strata.engine.ops.convert;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import dev.strata.engine.storage.FileStorage;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * The source images of a convert, concatenated: guest offset 0 of the second source follows the
 * last sector of the first, as qemu-img convert lays several sources end to end. Sizes count in
 * whole 512-byte sectors, as qemu's do.
 */
final class ConvertSources {
    private final List<Image> images;
    private final long[] starts;
    private final long[] sizes;
    private final int[] alignments;
    private final long totalSize;

    /** The sources in order; they stay owned by the caller. */
    ConvertSources(List<Image> images) {
        this.images = List.copyOf(images);
        this.starts = new long[images.size()];
        this.sizes = new long[images.size()];
        this.alignments = new int[images.size()];
        long pos = 0;
        for (int i = 0; i < images.size(); i++) {
            Image image = images.get(i);
            starts[i] = pos;
            sizes[i] = image.size() & ~(ZeroScan.SECTOR - 1L);
            long cluster = image.layers().get(0).driver().clusterSize();
            // qemu aligns status queries to max(request alignment, cluster size), in sectors.
            alignments[i] = (int) Math.max(1, cluster / ZeroScan.SECTOR);
            pos += sizes[i];
        }
        this.totalSize = pos;
    }

    /**
     * Whether the block status of these sources cannot fail: each is one raw layer over a host
     * file, whose status comes from SEEK_DATA/SEEK_HOLE, and a seek that fails reads as data
     * there (as in qemu's file-posix), never as an error.
     */
    boolean statusCannotFail() {
        for (Image image : images) {
            if (image.layers().size() != 1) {
                return false;
            }
            FormatDriver d = image.layers().get(0).driver();
            if (!"raw".equals(d.formatName()) || !(d.file() instanceof FileStorage)) {
                return false;
            }
        }
        return true;
    }

    /** Total bytes: the sum of the sources' sector-rounded sizes. */
    long totalSize() {
        return totalSize;
    }

    /** Index of the source holding byte {@code offset} (below {@link #totalSize()}). */
    int partAt(long offset) {
        int i = 0;
        while (offset - starts[i] >= sizes[i]) {
            i++;
        }
        return i;
    }

    /** Offset of source {@code part} in the concatenation. */
    long start(int part) {
        return starts[part];
    }

    /** Size of source {@code part} in bytes. */
    long size(int part) {
        return sizes[part];
    }

    /** Status-query alignment of source {@code part}, in sectors. */
    int alignmentSectors(int part) {
        return alignments[part];
    }

    /** The block status of source {@code part} at its own offset {@code offset}. */
    Extent statusAt(int part, long offset, long maxLength) {
        return images.get(part).blockStatusAt(offset, maxLength);
    }

    /** Source {@code part} itself. */
    Image image(int part) {
        return images.get(part);
    }

    /** Whether source {@code part} has a backing layer. */
    boolean hasBacking(int part) {
        return images.get(part).layers().size() > 1;
    }

    /** Reads {@code dst.remaining()} bytes at concatenated offset {@code offset}, across sources. */
    void read(ByteBuffer dst, long offset) {
        long pos = offset;
        while (dst.hasRemaining()) {
            int part = partAt(pos);
            long inPart = pos - starts[part];
            int n = (int) Math.min(dst.remaining(), sizes[part] - inPart);
            ByteBuffer slice = dst.slice(dst.position(), n);
            images.get(part).read(slice, inPart);
            dst.position(dst.position() + n);
            pos += n;
        }
    }

    /**
     * Reads as {@link #read} does, but as qemu-img convert --salvage: a source range that fails
     * is read again sector by sector, and each sector that still fails reads as zeros and is
     * reported (offset within its source).
     */
    void readSalvaging(ByteBuffer dst, long offset, SalvageReport report) {
        long pos = offset;
        while (dst.hasRemaining()) {
            int part = partAt(pos);
            long inPart = pos - starts[part];
            int n = (int) Math.min(dst.remaining(), sizes[part] - inPart);
            ByteBuffer slice = dst.slice(dst.position(), n);
            try {
                images.get(part).read(slice, inPart);
            } catch (StrataException e) {
                readBySector(part, dst.slice(dst.position(), n), inPart, report);
            }
            dst.position(dst.position() + n);
            pos += n;
        }
    }

    private void readBySector(int part, ByteBuffer dst, long inPart, SalvageReport report) {
        for (int p = 0; p < dst.limit(); p += ZeroScan.SECTOR) {
            ByteBuffer sector = dst.slice(p, Math.min(ZeroScan.SECTOR, dst.limit() - p));
            try {
                images.get(part).read(sector, inPart + p);
            } catch (StrataException e) {
                for (int i = 0; i < sector.limit(); i++) {
                    sector.put(i, (byte) 0);
                }
                report.readFailed(inPart + p, e.kind());
            }
        }
    }
}
