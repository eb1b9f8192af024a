package dev.strata.engine.ops.compare;

import dev.strata.engine.StrataException;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * {@code qemu-img compare}: qemu-img 7.2's {@code img_compare} walk over two images.
 *
 * <p>Both images are walked together by block status. Ranges that are zero in both are
 * skipped; ranges allocated in both are read and compared (in pieces of at most 2 MiB, the
 * first differing 512-byte sector is reported); where only one side is allocated that side must
 * read as zeros. In strict mode the sizes and the block status flags (DATA, ZERO, OFFSET_VALID,
 * ALLOCATED, EOF) must agree as well. Without strict mode the tail of the longer image must
 * read as zeros wherever it is allocated and not known to be zero.
 *
 * <p>Offsets reported for content mismatches are those qemu reports: the start of the first
 * 512-byte sector that differs (or is non-zero).
 */
public final class CompareOperation {
    /** qemu-img's IO_BUF_SIZE: the most one read covers. */
    static final int IO_BUF_SIZE = 2 << 20;
    private static final int SECTOR = 512;
    private static final byte[] ZEROS = new byte[IO_BUF_SIZE];

    static final int BLOCK_DATA = 0x01;
    static final int BLOCK_ZERO = 0x02;
    static final int BLOCK_OFFSET_VALID = 0x04;
    static final int BLOCK_ALLOCATED = 0x10;
    static final int BLOCK_EOF = 0x20;

    /** Receives qemu's progress steps: {@code chunk} bytes done out of {@code base}. */
    @FunctionalInterface
    public interface Progress {
        void advance(long chunk, long base);

        /**
         * The sizes differ and the tail of the longer image is about to be checked (qemu-img
         * prints "Warning: Image size mismatch!" at this point, before any later message).
         */
        default void sizeMismatch() {
        }

        /** A sink that ignores progress. */
        Progress NONE = (chunk, base) -> { };
    }

    private final Image image1;
    private final String name1;
    private final Image image2;
    private final String name2;
    private final byte[] buf1 = new byte[IO_BUF_SIZE];
    private final byte[] buf2 = new byte[IO_BUF_SIZE];

    private CompareOperation(Image image1, String name1, Image image2, String name2) {
        this.image1 = image1;
        this.name1 = name1;
        this.image2 = image2;
        this.name2 = name2;
    }

    /**
     * Compares {@code image1} with {@code image2}.
     *
     * @param name1 the name of image 1 in error results (as given on the command line)
     * @param name2 likewise for image 2
     */
    public static CompareResult compare(Image image1, String name1, Image image2, String name2,
                                        boolean strict, Progress progress) {
        return new CompareOperation(image1, name1, image2, name2).run(strict, progress);
    }

    private CompareResult run(boolean strict, Progress progress) {
        long size1 = image1.size();
        long size2 = image2.size();
        long total = Math.min(size1, size2);
        long base = Math.max(size1, size2);
        if (strict && size1 != size2) {
            return result(CompareResult.Outcome.SIZE_MISMATCH, 0, false);
        }
        long offset = 0;
        while (offset < total) {
            Extent e1;
            Extent e2;
            try {
                e1 = image1.blockStatusAt(offset, size1 - offset);
            } catch (StrataException e) {
                return new CompareResult(CompareResult.Outcome.STATUS_ERROR, offset, false, name1, e.kind());
            }
            try {
                e2 = image2.blockStatusAt(offset, size2 - offset);
            } catch (StrataException e) {
                return new CompareResult(CompareResult.Outcome.STATUS_ERROR, offset, false, name2, e.kind());
            }
            int status1 = status(e1, size1);
            int status2 = status(e2, size2);
            long chunk = Math.min(e1.length(), e2.length());
            if (strict && status1 != status2) {
                return result(CompareResult.Outcome.STATUS_MISMATCH, offset, false);
            }
            boolean allocated1 = e1.present();
            boolean allocated2 = e2.present();
            if (e1.zero() && e2.zero()) {
                // Both read as zeros: nothing to compare.
            } else if (allocated1 == allocated2) {
                if (allocated1) {
                    chunk = Math.min(chunk, IO_BUF_SIZE);
                    CompareResult r = compareData(offset, (int) chunk);
                    if (r != null) {
                        return r;
                    }
                }
            } else {
                chunk = Math.min(chunk, IO_BUF_SIZE);
                CompareResult r = allocated1
                        ? checkEmpty(image1, name1, offset, (int) chunk, false)
                        : checkEmpty(image2, name2, offset, (int) chunk, false);
                if (r != null) {
                    return r;
                }
            }
            offset += chunk;
            progress.advance(chunk, base);
        }
        if (size1 != size2) {
            progress.sizeMismatch();
            Image over = size1 > size2 ? image1 : image2;
            String overName = size1 > size2 ? name1 : name2;
            while (offset < base) {
                Extent e;
                try {
                    e = over.blockStatusAt(offset, base - offset);
                } catch (StrataException ex) {
                    return new CompareResult(CompareResult.Outcome.STATUS_ERROR, offset, true, overName, ex.kind());
                }
                long chunk = e.length();
                if (e.present() && !e.zero()) {
                    chunk = Math.min(chunk, IO_BUF_SIZE);
                    CompareResult r = checkEmpty(over, overName, offset, (int) chunk, true);
                    if (r != null) {
                        return r;
                    }
                }
                offset += chunk;
                progress.advance(chunk, base);
            }
            return result(CompareResult.Outcome.IDENTICAL, 0, true);
        }
        return result(CompareResult.Outcome.IDENTICAL, 0, false);
    }

    /** The block status flags qemu compares in strict mode. */
    static int status(Extent e, long imageSize) {
        int s = 0;
        if (e.data()) {
            s |= BLOCK_DATA;
        }
        if (e.zero()) {
            s |= BLOCK_ZERO;
        }
        if (e.hasOffset()) {
            s |= BLOCK_OFFSET_VALID;
        }
        if (e.present()) {
            s |= BLOCK_ALLOCATED;
        }
        if (e.end() == imageSize) {
            s |= BLOCK_EOF;
        }
        return s;
    }

    private CompareResult compareData(long offset, int chunk) {
        CompareResult r = read(image1, name1, offset, buf1, chunk, false);
        if (r != null) {
            return r;
        }
        r = read(image2, name2, offset, buf2, chunk, false);
        if (r != null) {
            return r;
        }
        int mismatch = Arrays.mismatch(buf1, 0, chunk, buf2, 0, chunk);
        if (mismatch < 0) {
            return null;
        }
        return result(CompareResult.Outcome.CONTENT_MISMATCH, offset + (mismatch / SECTOR) * (long) SECTOR, false);
    }

    /** qemu's check_empty_sectors: the range must read as zeros. */
    private CompareResult checkEmpty(Image image, String name, long offset, int chunk, boolean warned) {
        CompareResult r = read(image, name, offset, buf1, chunk, warned);
        if (r != null) {
            return r;
        }
        long nonZero = firstNonZeroSector(buf1, chunk);
        if (nonZero < 0) {
            return null;
        }
        return result(CompareResult.Outcome.CONTENT_MISMATCH, offset + nonZero, warned);
    }

    private static CompareResult read(Image image, String name, long offset, byte[] buf, int len, boolean warned) {
        try {
            image.read(ByteBuffer.wrap(buf, 0, len), offset);
            return null;
        } catch (StrataException e) {
            return new CompareResult(CompareResult.Outcome.READ_ERROR, offset, warned, name, e.kind());
        }
    }

    /** Start of the first 512-byte sector of {@code buf[0, len)} holding a non-zero byte, or -1. */
    static long firstNonZeroSector(byte[] buf, int len) {
        int i = Arrays.mismatch(buf, 0, len, ZEROS, 0, len);
        return i < 0 ? -1 : (i / SECTOR) * (long) SECTOR;
    }

    private static CompareResult result(CompareResult.Outcome outcome, long offset, boolean warned) {
        return new CompareResult(outcome, offset, warned, null, null);
    }
}
