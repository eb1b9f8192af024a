package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu's qcow2_co_truncate, step by step, so that 'create' (which truncates a
 * size-0 image) and 'resize' lay out exactly what qemu lays out:
 *
 *  - refusals first: size not a multiple of 512, snapshots of a v2 image (v3 images with
 *    internal snapshots resize: the snapshots keep their own L1 tables and sizes), persistent
 *    bitmaps that are inconsistent (in_use when opened) or were not loaded
 *    (qcow2_truncate_bitmaps_check), preallocation on shrink;
 *  - shrink: every cluster past the new end is dropped (full discard: entries zeroed, clusters
 *    freed, and punched once no snapshot uses them; an L2 table shared with a snapshot is
 *    copied first), L1 entries past the new L1 size zeroed and their L2 tables freed (the
 *    L1 size field stays), refcount blocks that count nothing but themselves dropped, and the
 *    file truncated after the last used cluster;
 *  - grow: the L1 table grows to exactly the needed size (new table allocated, written, header
 *    switched, old table freed);
 *  - preallocation=metadata: per L2 table, the table first and then one contiguous run of data
 *    clusters, mapped with OFLAG_COPIED (preallocate_co); the file is extended to the last one;
 *  - with an external data file, metadata/falloc/full all map the clusters 1:1, zero the tail
 *    of the last new cluster in the data file, then grow it to the new size sparse, with
 *    fallocate or with zeros (preallocate_co);
 *  - falloc/full: new self-covering refcount structures sized for everything at the end of the
 *    used file (qcow2_refcount_area with exact size), the data area allocated right after them,
 *    the file grown with fallocate/zeros, then the L2 entries linked;
 *  - the new size is written to the header last; the loaded bitmaps then follow the new size
 *    (the block layer's bdrv_dirty_bitmap_truncate) and are stored when the image closes.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReader;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/** Changes the virtual size of a writable qcow2 layer. Called under the writer's exclusive lock. */
final class Qcow2Resizer {
    /** qemu's BDRV_REQUEST_MAX_BYTES. */
    private static final long REQUEST_MAX_BYTES = 0x7fffffffL & ~511L;

    private final Qcow2WriteState s;
    private final Qcow2ClusterWriter clusters;
    private final boolean hasBitmaps;
    private final int snapshotCount;
    /** The image's loaded persistent bitmaps, or null while none are loaded. */
    private volatile Qcow2Bitmaps bitmaps;

    Qcow2Resizer(Qcow2WriteState state, Qcow2ClusterWriter clusters, boolean hasBitmaps, int snapshotCount) {
        this.s = state;
        this.clusters = clusters;
        this.hasBitmaps = hasBitmaps;
        this.snapshotCount = snapshotCount;
    }

    /**
     * The persistent bitmaps loaded for this image: a resize checks and resizes them. Their
     * metadata actions continue the writer's free-cluster search and hand it back (qemu has one
     * free_cluster_index per image: the bitmaps stored on close follow the clusters a
     * preallocating resize just took).
     */
    void useBitmaps(Qcow2Bitmaps loaded) {
        this.bitmaps = loaded;
        WriterFreeSearch search = new WriterFreeSearch();
        loaded.shareFreeClusterSearch(search, search);
    }

    /**
     * The writer's free-cluster search, read and moved. A class, not two lambdas: every writable
     * open shares it (see HostFiles.Binding on lambdas at start-up).
     */
    private final class WriterFreeSearch implements LongSupplier, LongConsumer {
        @Override
        public long getAsLong() {
            return s.refcounts.freeClusterIndex();
        }

        @Override
        public void accept(long index) {
            s.refcounts.searchFreeFrom(index);
        }
    }

    /** See {@link dev.strata.engine.format.LayerWriter#resize}. */
    void resize(long newSize, Preallocation prealloc, BackingReader below) {
        if ((newSize & 511) != 0) {
            throw StrataException.invalid("The new size must be a multiple of 512");
        }
        if (snapshotCount > 0 && s.version < 3) {
            // v2 snapshots need not record their size, so qemu resizes only v3 images with them.
            throw StrataException.unsupported("Can't resize a v2 image which has snapshots");
        }
        Qcow2Bitmaps loaded = bitmaps;
        if (loaded != null) {
            loaded.checkResizable();
        } else if (hasBitmaps) {
            throw StrataException.unsupported("Cannot resize qcow2 with persistent bitmaps that were not loaded "
                    + "into memory");
        }
        long oldLength = s.virtualSize;
        long newL1Size = l1EntriesFor(newSize);
        if (newSize < oldLength) {
            if (prealloc != Preallocation.OFF) {
                throw StrataException.invalid("Preallocation can't be used for shrinking an image");
            }
            shrink(newSize, oldLength, newL1Size);
        } else {
            growL1(newL1Size);
        }
        switch (prealloc) {
            case OFF:
                if (s.externalData) {
                    s.data.truncate(newSize);
                }
                break;
            case METADATA:
                preallocateMetadata(oldLength, newSize, below);
                break;
            case FALLOC:
            case FULL:
                preallocateData(oldLength, newSize, prealloc, below);
                break;
            default:
                throw new IllegalStateException();
        }
        s.writeSize(newSize);
        if (loaded != null) {
            loaded.virtualSizeChanged(newSize);
        }
    }

    private long l1EntriesFor(long size) {
        int shift = s.clusterBits + s.l2Bits;
        return (size + (1L << shift) - 1) >>> shift;
    }

    /** qcow2_grow_l1_table with exact size. */
    private void growL1(long minSize) {
        Qcow2L1Table old = s.l1;
        if (minSize <= old.size()) {
            return;
        }
        if (minSize > Qcow2Header.MAX_L1_BYTES / 8) {
            throw new StrataException(ErrorKind.EFBIG, "Failed to grow the L1 table: File too large");
        }
        long[] entries = new long[(int) minSize];
        System.arraycopy(old.stored(), 0, entries, 0, old.stored().length);
        long bytes = minSize * 8;
        long offset = s.refcounts.allocate(bytes);
        s.guard.invalidate();
        s.barrier();
        ByteBuffer b = ByteBuffer.allocate((int) bytes);
        b.asLongBuffer().put(entries);
        s.file.write(b, offset);
        s.barrier();
        s.switchL1(new Qcow2L1Table(offset, minSize, entries));
        if (old.size() > 0) {
            s.refcounts.free(old.offset(), old.size() * 8);
        }
    }

    private void shrink(long newSize, long oldLength, long newL1Size) {
        long cs = s.clusterSize;
        long from = (newSize + cs - 1) & ~(cs - 1);
        long to = (oldLength + cs - 1) & ~(cs - 1);
        if (to > from) {
            clusters.fullDiscard(from, to - from);
        }
        Qcow2L1Table l1 = s.l1;
        if (newL1Size < l1.size()) {
            long count = l1.size() - newL1Size;
            Storage.writeZeros(s.file, l1.offset() + newL1Size * 8, count * 8);
            s.barrier();
            for (long i = l1.size() - 1; i >= newL1Size; i--) {
                long l2 = l1.l2Offset(i);
                if (l2 != 0) {
                    s.refcounts.free(l2, cs);
                    if (s.refcounts.get(l2 / cs) == 0) {
                        // an L2 table an internal snapshot still uses stays where it is
                        s.file.punchHole(l2, cs);
                    }
                    l1.stored()[(int) i] = 0;
                }
            }
            s.guard.invalidate();
        }
        s.refcounts.shrinkTable();
        s.guard.invalidate();
        long fileSize = (s.file.size() + cs - 1) & ~(cs - 1);
        long last = s.refcounts.lastUsedCluster(fileSize / cs);
        if ((last + 1) * cs < fileSize) {
            s.file.truncate((last + 1) * cs);
        }
    }

    /** preallocate_co with mode metadata: the data file only grows (sparse) to the last cluster. */
    private void preallocateMetadata(long from, long to, BackingReader below) {
        if (s.externalData) {
            preallocateExternal(from, to, Preallocation.METADATA);
            return;
        }
        long lastHostEnd = mapPreallocated(from, to, below);
        if (s.data.size() < lastHostEnd) {
            s.data.truncate(lastHostEnd);
        }
    }

    /**
     * preallocate_co over an external data file (mapped 1:1): the metadata is allocated; the
     * part of the last new (sub)cluster past the new end is written with zeros, as qemu's
     * copy-on-write of that tail does; then, if the data file is still shorter than the new
     * size, it is grown to it with the preallocation asked for (metadata: sparse).
     */
    private void preallocateExternal(long from, long to, Preallocation prealloc) {
        long lastHostEnd = mapPreallocated(from, to, BackingReader.NONE);
        if (lastHostEnd > to) {
            Storage.writeZeros(s.data, to, lastHostEnd - to);
        }
        long current = s.data.size();
        if (to <= current) {
            return;
        }
        switch (prealloc) {
            case FALLOC:
                s.data.preallocate(current, to - current);
                break;
            case FULL:
                Storage.writeZeros(s.data, current, to - current);
                break;
            default:
                s.data.truncate(to);
                break;
        }
    }

    /**
     * preallocate_co's mapping: per L2 table, the table and then its data clusters.
     *
     * @return the end of the last host cluster mapped
     */
    private long mapPreallocated(long from, long to, BackingReader below) {
        long cs = s.clusterSize;
        long pos = from;
        long lastHostEnd = 0;
        while (pos < to) {
            long tableSpan = cs << s.l2Bits;
            long end = Math.min(to, (pos / tableSpan + 1) * tableSpan);
            end = Math.min(end, (pos & ~(cs - 1)) + ((REQUEST_MAX_BYTES >>> s.clusterBits) << s.clusterBits));
            long hostEnd = clusters.mapNewClusters(pos, end, -1, below, true);
            lastHostEnd = Math.max(lastHostEnd, hostEnd);
            pos = end;
        }
        return lastHostEnd;
    }

    /** The falloc/full branch of qcow2_co_truncate. */
    private void preallocateData(long oldLength, long newSize, Preallocation prealloc, BackingReader below) {
        long cs = s.clusterSize;
        if (s.externalData) {
            preallocateExternal(oldLength, newSize, prealloc);
            return;
        }
        long oldFileSize = (s.file.size() + cs - 1) & ~(cs - 1);
        long lastCluster = s.refcounts.lastUsedCluster(oldFileSize / cs);
        oldFileSize = (lastCluster + 1) * cs;
        long newDataClusters = (((newSize + cs - 1) & ~(cs - 1)) - (oldLength & ~(cs - 1))) >>> s.clusterBits;
        long newL2Tables = (newDataClusters + (1L << s.l2Bits) - 1) / (1L << s.l2Bits) + 1;
        long allocationStart = s.refcounts.refcountArea(oldFileSize, newDataClusters + newL2Tables, true, 0, 0);
        s.guard.invalidate();
        long allocated = s.refcounts.allocateAt(allocationStart, newDataClusters);
        if (allocated != newDataClusters) {
            throw StrataException.io("Unable to allocate the new data area of '" + s.file.name() + "'");
        }
        long newFileSize = allocationStart + newDataClusters * cs;
        long current = s.file.size();
        if (newFileSize > current) {
            try {
                if (prealloc == Preallocation.FALLOC) {
                    s.file.preallocate(current, newFileSize - current);
                } else {
                    s.file.growWithZeros(newFileSize);
                }
            } catch (StrataException e) {
                // qcow2_co_truncate gives the clusters back and says which file failed
                s.refcounts.free(allocationStart, newDataClusters * cs);
                throw new StrataException(e.kind(), "Failed to resize underlying file: " + e.getMessage(), e);
            }
        }
        long guest = oldLength;
        long host = allocationStart;
        long remaining = newDataClusters;
        while (remaining > 0) {
            long l2Index = (guest >>> s.clusterBits) & ((1L << s.l2Bits) - 1);
            long n = Math.min(remaining, (1L << s.l2Bits) - l2Index);
            long start = guest & ~(cs - 1);
            // the old last cluster, when partial, keeps its head (qemu's cow_start)
            clusters.mapNewClusters(guest, start + (n << s.clusterBits), host, below, false);
            guest = start + (n << s.clusterBits);
            host += n << s.clusterBits;
            remaining -= n;
        }
    }
}
