package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu 7.2's qcow2_make_empty, which qemu-img commit runs on the overlay after
 * committing it (unless -d). Two paths, chosen as qemu chooses them:
 *
 *  - make_completely_empty, for v3 images without snapshots, persistent bitmaps, LUKS or an
 *    external data file whose L1 table plus three clusters fit in one refcount block: the image
 *    file is reset. Dirty bit set; the old L1 table zeroed; clusters 1 .. 2+l1_clusters zeroed;
 *    the header pointed at a one-cluster refcount table in cluster 1 and the L1 table in
 *    cluster 3; reftable entry 0 -> a refcount block in cluster 2; refcounts of the first
 *    3 + l1_clusters clusters set to 1 (qcow2_alloc_clusters of 3 clusters plus the L1 size);
 *    the header rewritten clean (qcow2_update_header); the file truncated after the L1 table.
 *  - otherwise (v2, snapshots, bitmaps, an external data file, a large L1 table) every cluster
 *    is discarded with full_discard (entries cleared, clusters freed and punched, the data
 *    file's clusters too): {@link #discardAll} on the image opened read-write.
 *
 * resetFile needs the file not to be open through a writer with pending metadata.
 */

import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/** qcow2_make_empty for qemu-img commit. */
public final class Qcow2Emptier {
    private static final int LUKS = 2;

    private Qcow2Emptier() {
    }

    /**
     * Whether qemu empties {@code header}'s image by resetting the file (make_completely_empty);
     * false means qemu discards every cluster instead.
     */
    public static boolean resetsFile(Qcow2Header header) {
        long cs = header.clusterSize();
        long l1Clusters = l1Clusters(header);
        long refblockEntries = cs * 8 / header.refcountBits();
        boolean bitmaps = header.bitmapsConsistent() && header.bitmapsExtension() != null
                && header.bitmapsExtension().nbBitmaps() > 0;
        return header.version() >= 3 && header.nbSnapshots() == 0 && !bitmaps
                && 3 + l1Clusters <= refblockEntries && header.cryptMethod() != LUKS && !header.hasDataFile();
    }

    /**
     * qemu's fallback of qcow2_make_empty on {@code image}, opened read-write: every cluster
     * discarded with full discard, then the metadata written back.
     *
     * @throws IllegalStateException when {@code image} was opened read-only
     * @throws dev.strata.engine.StrataException EIO on host errors
     */
    public static void discardAll(Qcow2Driver image) {
        Qcow2Writer writer = (Qcow2Writer) image.writer().orElseThrow(
                () -> new IllegalStateException("image opened read-only"));
        writer.discardAll();
        writer.flush();
    }

    /**
     * qemu's make_completely_empty on {@code file}, a qcow2 image for which
     * {@link #resetsFile} holds.
     *
     * @throws dev.strata.engine.StrataException EIO on host errors
     */
    public static void resetFile(Storage file) {
        Qcow2Header header = Qcow2Header.parse(file);
        int cs = header.clusterSize();
        long l1Clusters = l1Clusters(header);
        Qcow2HeaderRewrite state = Qcow2HeaderRewrite.load(file);

        // qcow2_mark_dirty: only the incompatible features word, made durable.
        long dirty = header.incompatibleFeatures() | Qcow2FeatureBits.INCOMPAT_DIRTY;
        file.write(ByteBuffer.allocate(8).putLong(0, dirty), 72);
        file.flush();

        writeZeros(file, header.l1TableOffset(), l1Clusters * cs);
        writeZeros(file, cs, (2 + l1Clusters) * cs);

        ByteBuffer pointers = ByteBuffer.allocate(20);
        pointers.putLong(0, 3L * cs).putLong(8, cs).putInt(16, 1);
        file.write(pointers, 40);
        file.flush();
        file.write(ByteBuffer.allocate(8).putLong(0, 2L * cs), cs);
        file.flush();

        Qcow2Header fresh = Qcow2Header.parse(file);
        Qcow2RefcountEditor refcounts = new Qcow2RefcountEditor(file, fresh);
        long used = (3L * cs + header.l1Size() * 8 + cs - 1) / cs;
        for (long c = 0; c < used; c++) {
            refcounts.add(c, 1);
        }
        file.flush();

        // qcow2_mark_clean: the whole header as qcow2_update_header writes it.
        state.incompatible = header.incompatibleFeatures() & ~Qcow2FeatureBits.INCOMPAT_DIRTY;
        state.l1TableOffset = 3L * cs;
        state.refcountTableOffset = cs;
        state.refcountTableClusters = 1;
        state.write(file);
        file.flush();
        file.truncate((3 + l1Clusters) * cs);
    }

    private static long l1Clusters(Qcow2Header header) {
        long perCluster = header.clusterSize() / 8;
        return (header.l1Size() + perCluster - 1) / perCluster;
    }

    private static void writeZeros(Storage file, long offset, long length) {
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, 1 << 20));
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int n = (int) Math.min(end - pos, zeros.capacity());
            file.write(zeros.clear().limit(n), pos);
            pos += n;
        }
    }
}
