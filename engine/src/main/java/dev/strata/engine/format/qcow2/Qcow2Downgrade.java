package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu 7.2's qcow2_downgrade to compat=0.10, with its preconditions in its order
 * and wording: 16-bit refcounts, no external data file, snapshots whose disk size is the
 * current size and whose VM state fits 32 bits, no incompatible feature but the compression
 * type (the dirty bit is cleared first). Then compatible and autoclear bits are dropped, zero
 * clusters are expanded (Qcow2ZeroExpansion), zstd is accepted only when no cluster is
 * compressed (and replaced by zlib), and the header is rewritten as version 2. Persistent bitmaps
 * are not touched: the header keeps their extension (without the autoclear bit, which v2 has no
 * room for), and the open image stores them into the v2 file when it closes, as qemu's does.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/** Downgrades a qcow2 v3 image to v2. */
final class Qcow2Downgrade {
    private Qcow2Downgrade() {
    }

    /**
     * Downgrades the image in {@code file} described by {@code state}.
     *
     * @param freeClusterIndex qemu's free_cluster_index, which the zero expansion's allocations
     *                         start from and move
     */
    static void run(Storage file, Qcow2HeaderRewrite state, Qcow2AmendProgress progress, Runnable barrier,
                    AtomicLong freeClusterIndex) {
        if (state.refcountOrder != 4) {
            throw StrataException.unsupported("compat=0.10 requires refcount_bits=16");
        }
        if (state.hasDataFile()) {
            throw StrataException.unsupported("Cannot downgrade an image with a data file");
        }
        Qcow2SnapshotTable snapshots = Qcow2SnapshotTable.parse(file, state.snapshotsOffset, state.nbSnapshots);
        for (Qcow2SnapshotTable.Entry e : snapshots.entries()) {
            long diskSize = e.diskSize() < 0 ? state.size : e.diskSize();
            if (Long.compareUnsigned(e.vmStateSize(), 0xffffffffL) > 0 || diskSize != state.size) {
                throw StrataException.unsupported("Internal snapshots prevent downgrade of image");
            }
        }
        state.incompatible &= ~Qcow2FeatureBits.INCOMPAT_DIRTY;
        long blocking = state.incompatible & ~Qcow2FeatureBits.INCOMPAT_COMPRESSION;
        if (blocking != 0) {
            throw StrataException.unsupported("Cannot downgrade an image with incompatible features 0x"
                    + Long.toHexString(blocking) + " set");
        }
        state.compatible = 0;
        state.autoclear = 0;
        Qcow2ZeroExpansion.run(file, state, snapshots, progress, barrier, freeClusterIndex);
        if ((state.incompatible & Qcow2FeatureBits.INCOMPAT_COMPRESSION) != 0) {
            if (hasCompressedClusters(file, state)) {
                throw StrataException.unsupported("Cannot downgrade an image with zstd compression type and existing"
                        + " compressed clusters");
            }
            state.incompatible &= ~Qcow2FeatureBits.INCOMPAT_COMPRESSION;
            state.compressionType = Qcow2Compression.TYPE_ZLIB;
        }
        state.version = 2;
        state.write(file);
        barrier.run();
    }

    /** qcow2_has_compressed_clusters: whether a cluster of the active image is compressed. */
    private static boolean hasCompressedClusters(Storage file, Qcow2HeaderRewrite state) {
        long clusterSize = state.clusterSize();
        int entriesPerTable = (int) (clusterSize / 8);
        long clusters = (state.size + clusterSize - 1) / clusterSize;
        long[] l1 = Qcow2L1Table.parse(file, state.l1TableOffset, state.l1Size).stored();
        for (int i = 0; i < l1.length && (long) i * entriesPerTable < clusters; i++) {
            long l2 = l1[i] & Qcow2L2Entry.L1_OFFSET_MASK;
            if (l2 == 0) {
                continue;
            }
            ByteBuffer table = HostReads.read(file, l2, (int) clusterSize);
            long n = Math.min(entriesPerTable, clusters - (long) i * entriesPerTable);
            for (int j = 0; j < n; j++) {
                if ((table.getLong(j * 8) & Qcow2L2Entry.OFLAG_COMPRESSED) != 0) {
                    return true;
                }
            }
        }
        return false;
    }
}
