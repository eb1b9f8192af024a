package dev.strata.engine.format.qcow2;

/*
 * Design note: 'qemu-img create -f qcow2' as qemu 7.2's qcow2_co_create does it, so that the
 * file is the file qemu writes: first a minimal image of virtual size 0 (cluster 0: the header
 * with every extension qcow2_update_header writes, in its order: backing format, external data
 * file name, feature name table (v3), end marker, then the backing file name; cluster 1: the
 * refcount table; cluster 2: its one refcount block, counting clusters 0..2), then that image is
 * opened read-write and resized to the requested size with the requested preallocation through
 * the normal write path (Qcow2Resizer). That is why the L1 table lands in cluster 3. qemu opens
 * it with BDRV_O_NO_FLUSH and flushes once at the end; so do we.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.CorruptionListener;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.storage.CacheMode;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/** Lays out new qcow2 images. */
public final class Qcow2Creator {
    private Qcow2Creator() {
    }

    /**
     * Writes a new qcow2 image described by {@code spec} into {@code file} (which should be
     * empty; the caller keeps ownership and closes it). The external data file, if any, must
     * exist; it is opened by name and resized as qemu does.
     *
     * @throws dev.strata.engine.StrataException on I/O errors, with the host's message
     */
    public static void create(Storage file, Qcow2CreateSpec spec) {
        int cs = spec.clusterSize();
        file.truncate(0);
        file.write(ByteBuffer.wrap(header(spec)), 0);
        ByteBuffer tables = ByteBuffer.allocate(2 * cs);
        tables.putLong(0, 2L * cs);
        file.write(tables, cs);
        Qcow2Header parsed = Qcow2Header.parse(file, true);
        Qcow2RefcountWriter refcounts = new Qcow2RefcountWriter(file, parsed,
                new Qcow2CorruptionSignal(file.name(), CorruptionListener.IGNORE), Qcow2RefcountWriter.NO_BARRIER);
        refcounts.allocate(3L * cs);
        OpenOptions options = new OpenOptions(false, true, true).withCache(CacheMode.UNSAFE);
        Qcow2Driver driver = Qcow2Driver.open(file, options);
        try {
            driver.writer().orElseThrow().resize(spec.size(), spec.preallocation());
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Could not resize image: " + e.getMessage(), e);
        } finally {
            driver.closeKeepingImageFile();
        }
        file.flush();
    }

    /** Cluster 0 of the new image, as qcow2_update_header writes it for a size-0 image. */
    static byte[] header(Qcow2CreateSpec spec) {
        int cs = spec.clusterSize();
        ByteBuffer h = ByteBuffer.allocate(cs);
        boolean v3 = spec.version() >= 3;
        h.putInt(0, Qcow2Header.MAGIC);
        h.putInt(4, spec.version());
        h.putInt(20, Integer.numberOfTrailingZeros(cs));
        h.putLong(48, cs);
        h.putInt(56, 1);
        int at = 72;
        if (v3) {
            long incompatible = 0;
            if (spec.dataFile() != null) {
                incompatible |= Qcow2FeatureBits.INCOMPAT_DATA_FILE;
            }
            boolean zstd = "zstd".equals(spec.compressionType());
            if (zstd) {
                incompatible |= Qcow2FeatureBits.INCOMPAT_COMPRESSION;
            }
            if (spec.extendedL2()) {
                incompatible |= Qcow2FeatureBits.INCOMPAT_EXTL2;
            }
            h.putLong(72, incompatible);
            h.putLong(80, spec.lazyRefcounts() ? Qcow2FeatureBits.COMPAT_LAZY_REFCOUNTS : 0);
            h.putLong(88, spec.dataFileRaw() ? Qcow2FeatureBits.AUTOCLEAR_DATA_FILE_RAW : 0);
            h.putInt(96, Integer.numberOfTrailingZeros(spec.refcountBits()));
            h.putInt(100, Qcow2Header.STRUCT_SIZE);
            h.put(104, (byte) (zstd ? Qcow2Compression.TYPE_ZSTD : Qcow2Compression.TYPE_ZLIB));
            at = Qcow2Header.STRUCT_SIZE;
        }
        if (spec.backingFile() != null && spec.backingFormat() != null) {
            at = extension(h, at, Qcow2HeaderExtension.BACKING_FORMAT, ascii(spec.backingFormat()));
        }
        if (spec.dataFile() != null) {
            at = extension(h, at, Qcow2HeaderExtension.DATA_FILE, ascii(spec.dataFile()));
        }
        if (v3 && cs > 4096) { // qemu 7.2 leaves the table out of images with clusters of 4 KiB or less
            at = extension(h, at, Qcow2HeaderExtension.FEATURE_TABLE, Qcow2HeaderRewrite.featureTable());
        }
        at += 8; // end of extensions
        if (spec.backingFile() != null) {
            byte[] name = spec.backingFile().getBytes(StandardCharsets.UTF_8);
            h.putLong(8, at);
            h.putInt(16, name.length);
            h.put(at, name);
        }
        return h.array();
    }

    private static int extension(ByteBuffer h, int at, int type, byte[] data) {
        h.putInt(at, type);
        h.putInt(at + 4, data.length);
        h.put(at + 8, data);
        return at + 8 + ((data.length + 7) & ~7);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
