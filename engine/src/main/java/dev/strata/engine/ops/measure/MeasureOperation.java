package dev.strata.engine.ops.measure;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.qcow2.Qcow2BitmapDirectory;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.create.CreateOperation;
import dev.strata.engine.ops.create.CreateOptions;
import dev.strata.engine.ops.create.Qcow2CreateRequest;

/**
 * {@code qemu-img measure}: how large a new image of an output format would be, for an empty
 * image of a given size or for a copy of a source image. qemu 7.2's {@code raw_measure} and
 * {@code qcow2_measure}: the fully allocated size is the qcow2 metadata of the whole virtual
 * size plus the data; the required size keeps only the data clusters that hold something (a
 * block-status walk over the source chain that skips zero and unallocated ranges and counts
 * each target cluster touched by data once), or everything with a backing file or with
 * falloc/full preallocation. A qcow2 v3 source's persistent bitmaps add "bitmaps size" when the
 * target is qcow2 v3.
 */
public final class MeasureOperation {
    /** qemu's QCOW_MAX_L1_SIZE in bytes. */
    private static final long MAX_L1_BYTES = 32L << 20;

    private MeasureOperation() {
    }

    /**
     * Parses the target's {@code -o} options ({@code qemu_opts_do_parse} over the format's and
     * the host-file protocol's create options).
     *
     * @throws StrataException "Unknown file format 'X'", "Block driver 'X' does not support size
     *         measurement" for a format strata cannot create, or the option error
     */
    public static CreateOptions targetOptions(String outFormat, String options) {
        try {
            return CreateOperation.parseOptions(outFormat, options);
        } catch (StrataException e) {
            if (e.getMessage().startsWith("Format driver '")) {
                throw StrataException.unsupported("Block driver '" + outFormat + "' does not support size measurement");
            }
            throw e;
        }
    }

    /**
     * Measures a new {@code outFormat} image.
     *
     * @param opts   the target options from {@link #targetOptions}, with "size" set when there is
     *               no source
     * @param source the image to copy, or null to measure an empty image of the size in opts
     * @throws StrataException in qemu's words
     */
    public static MeasureResult measure(String outFormat, CreateOptions opts, Image source) {
        if (outFormat.equals("raw")) {
            long required = source != null ? source.size() : roundUp(opts.getNumber("size", 0), 512);
            return new MeasureResult(required, required, null);
        }
        return measureQcow2(opts, source);
    }

    private static MeasureResult measureQcow2(CreateOptions opts, Image source) {
        boolean extendedL2 = opts.getBool("extended_l2", false);
        long clusterSize = opts.getNumber("cluster_size", 65536);
        Qcow2CreateRequest.checkClusterSize(clusterSize, extendedL2);
        int version = version(opts);
        long refcountBits = opts.getNumber("refcount_bits", 16);
        if (Long.compareUnsigned(refcountBits, 64) > 0 || Long.bitCount(refcountBits) != 1) {
            throw StrataException.invalid("Refcount width must be a power of two and may not exceed 64 bits");
        }
        if (version < 3 && refcountBits != 16) {
            throw StrataException.invalid("Different refcount widths than 16 bits require compatibility level 1.1 "
                    + "or above (use compat=1.1 or greater)");
        }
        Preallocation prealloc = opts.preallocation();
        boolean hasBackingFile = opts.get("backing_file") != null;
        if ("luks".equals(opts.get("encrypt.format"))) {
            if (opts.get("encrypt.key-secret") == null) {
                throw StrataException.invalid("Parameter 'encrypt.key-secret' is required for cipher");
            }
            throw StrataException.unsupported("Measuring encrypted images is not supported: "
                    + "encryption is not supported");
        }
        long virtualSize = roundUp(opts.getNumber("size", 0), clusterSize);
        long l2EntrySize = extendedL2 ? 16 : 8;
        long l2Tables = Qcow2SizeModel.divRoundUp(Long.divideUnsigned(virtualSize, clusterSize),
                clusterSize / l2EntrySize);
        if (Long.compareUnsigned(l2Tables, MAX_L1_BYTES / 8) > 0) {
            throw StrataException.invalid("The image size is too large (try using a larger cluster size)");
        }
        long required = 0;
        if (source != null) {
            long sourceSize = source.size();
            virtualSize = roundUp(sourceSize, clusterSize);
            required = hasBackingFile ? virtualSize : dataClusterBytes(source, sourceSize, clusterSize);
        }
        if (prealloc == Preallocation.FULL || prealloc == Preallocation.FALLOC) {
            required = virtualSize;
        }
        long fully = Qcow2SizeModel.fullyAllocatedSize(virtualSize, clusterSize,
                Long.numberOfTrailingZeros(refcountBits), extendedL2);
        Long bitmaps = null;
        if (version >= 3 && source != null && source.layers().get(0).driver() instanceof Qcow2Driver q
                && q.header().version() >= 3) {
            bitmaps = bitmapsSize(q.bitmapDirectory(), source.size(), clusterSize);
        }
        return new MeasureResult(fully - virtualSize + required, fully, bitmaps);
    }

    /** qcow2_opt_get_version_del: only "0.10" and "1.1" (default 3). */
    private static int version(CreateOptions opts) {
        String compat = opts.get("compat");
        if (compat == null || compat.equals("1.1")) {
            return 3;
        }
        if (compat.equals("0.10")) {
            return 2;
        }
        throw StrataException.invalid("Invalid compatibility level: '" + compat + "'");
    }

    /**
     * Bytes of target clusters that hold data of {@code source}: qemu's walk, where a range that
     * is allocated data (not zero) is extended to the end of its cluster and counted from the
     * cluster's start.
     *
     * @throws StrataException "Unable to get block status: " and the errno's text when the walk
     *         fails (corrupt metadata reads as EIO), as qemu words it
     */
    static long dataClusterBytes(Image source, long size, long clusterSize) {
        long required = 0;
        long offset = 0;
        while (offset < size) {
            Extent e;
            try {
                e = source.blockStatusAt(offset, size - offset);
            } catch (StrataException failure) {
                throw new StrataException(failure.kind(), "Unable to get block status: " + failure.kind().strerror(),
                        failure);
            }
            long pnum = e.length();
            if (!e.zero() && e.data() && e.present()) {
                pnum = roundUp(offset + pnum, clusterSize) - offset;
                required += offset % clusterSize + pnum;
            }
            offset += pnum;
        }
        return required;
    }

    /** qcow2_get_persistent_dirty_bitmap_size. */
    static long bitmapsSize(Qcow2BitmapDirectory directory, long virtualSize, long clusterSize) {
        long total = 0;
        long directoryBytes = 0;
        for (Qcow2BitmapDirectory.Entry bm : directory.entries()) {
            long bits = Qcow2SizeModel.divRoundUp(virtualSize, bm.granularity());
            long bytes = Qcow2SizeModel.divRoundUp(bits, 8);
            long clusters = Qcow2SizeModel.divRoundUp(bytes, clusterSize);
            total += clusters * clusterSize;
            total += roundUp(clusters * 8, clusterSize);
            directoryBytes += roundUp(Qcow2BitmapDirectory.ENTRY_HEADER_SIZE
                    + bm.name().getBytes(java.nio.charset.StandardCharsets.UTF_8).length, 8);
        }
        return total + roundUp(directoryBytes, clusterSize);
    }

    private static long roundUp(long value, long alignment) {
        return Qcow2SizeModel.roundUp(value, alignment);
    }
}
