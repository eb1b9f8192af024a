package dev.strata.engine.format.qcow2;

/*
 * Design note: the allocating half of qemu's qcow2 write path (qcow2-cluster.c), called under
 * the writer's exclusive lock. A request is cut at L2 slice boundaries; for each slice:
 *
 *  1. the L2 table is made writable (get_cluster_table/l2_allocate): a missing one is allocated
 *     zeroed, a shared one (no OFLAG_COPIED in L1: internal snapshots) is copied to a new
 *     cluster, written, then the L1 entry is switched and the old table's refcount dropped;
 *  2. clusters that can take the data in place (normal with OFLAG_COPIED, or v2/v3 zero
 *     clusters with a preallocated COPIED host cluster) keep their host cluster; every
 *     consecutive run of the others gets one contiguous allocation;
 *  3. copy-on-write fills the parts of partial (sub)clusters the request does not cover, from
 *     the old content: the old host cluster, the decompressed cluster, zeros, or the layers
 *     below; with extended L2 only partially covered subclusters are filled, plus, when a
 *     shared cluster moves, the subclusters that hold data;
 *  4. the guest bytes go out as one pwrite per contiguous host run;
 *  5. barrier, then the changed L2 entries of the slice in one write (data and refcounts are
 *     on disk before the entries that use them), then barrier and the old clusters' refcounts
 *     dropped (a crash in between leaks, never dangles).
 *
 * Zeroing and discarding rewrite the entries of whole clusters the same way (qemu's
 * zero_in_l2_slice and discard_in_l2_slice) and free what they unmap; freed clusters are
 * punched on the host.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReader;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.LongConsumer;

/** Allocation, copy-on-write and L2 updates of one writable qcow2 layer. Not thread-safe. */
final class Qcow2ClusterWriter {
    private static final long COPIED = Qcow2L2Entry.OFLAG_COPIED;
    private static final long ZERO = Qcow2L2Entry.OFLAG_ZERO;

    private final Qcow2WriteState s;
    private final Function<Qcow2L2Entry, byte[]> decompress;
    private final List<Long> freedClusters = new ArrayList<>();
    /**
     * Set during a full discard (qemu's ALWAYS and SNAPSHOT discard types, which pass discards
     * through): clusters dropped from an external data file are punched there too.
     */
    private boolean passThrough;

    Qcow2ClusterWriter(Qcow2WriteState state, Function<Qcow2L2Entry, byte[]> decompress) {
        this.s = state;
        this.decompress = decompress;
        state.refcounts.onFreed(new LongConsumer() {
            // A class, not a method reference: built at every writable open (see HostFiles.Binding).
            @Override
            public void accept(long cluster) {
                freedClusters.add(cluster);
            }
        });
    }

    // ---- data writes ------------------------------------------------------------------------

    /** Writes {@code src} (all remaining bytes) at {@code guestOffset}. */
    void write(ByteBuffer src, long guestOffset, BackingReader below) {
        long end = guestOffset + src.remaining();
        long pos = guestOffset;
        long[] chunkEnd = {-1}; // where the request's host-contiguous chunk would go on
        while (pos < end) {
            long regionEnd = Math.min(end, sliceGuestEnd(pos));
            ByteBuffer part = src.duplicate();
            part.position(src.position() + (int) (pos - guestOffset));
            part.limit(part.position() + (int) (regionEnd - pos));
            writeRegion(part, pos, regionEnd, below, chunkEnd);
            pos = regionEnd;
        }
    }

    /** Guest offset where the L2 slice holding {@code pos} ends. */
    private long sliceGuestEnd(long pos) {
        long sliceSpan = (long) s.sliceEntries << s.clusterBits;
        return (pos / sliceSpan + 1) * sliceSpan;
    }

    private void writeRegion(ByteBuffer src, long pos, long regionEnd, BackingReader below, long[] chunkEnd) {
        long l2Offset = writableL2(pos >>> (s.clusterBits + s.l2Bits));
        long l2Index = (pos >>> s.clusterBits) & ((1L << s.l2Bits) - 1);
        long sliceOffset = s.sliceOffset(l2Offset, l2Index);
        Qcow2L2Slice.Edit words = s.l2Cache.slice(sliceOffset).edit();
        int i0 = (int) (l2Index % s.sliceEntries);
        long firstCluster = pos >>> s.clusterBits;
        int n = (int) (((regionEnd - 1) >>> s.clusterBits) - firstCluster + 1);
        long[] oldEntry = new long[n];
        long[] oldBitmap = new long[n];
        long[] host = new long[n];
        boolean[] inPlace = new boolean[n];
        for (int k = 0; k < n; k++) {
            int w = (i0 + k) * s.entryWords;
            oldEntry[k] = words.word(w);
            oldBitmap[k] = s.extended ? words.word(w + 1) : 0;
            validate(oldEntry[k], oldBitmap[k], l2Offset, i0 + k, Math.max(pos, (firstCluster + k) << s.clusterBits));
            inPlace[k] = canWriteInPlace(oldEntry[k]);
            if (inPlace[k]) {
                host[k] = s.externalData ? (firstCluster + k) << s.clusterBits : oldEntry[k] & Qcow2L2Entry.OFFSET_MASK;
            }
        }
        boolean allocated = allocateRuns(host, inPlace, chunkEnd);
        boolean[] zeroed = zeroNewClusters(host, inPlace, oldEntry, oldBitmap, pos, regionEnd, firstCluster);
        // copy-on-write fills and the guest bytes
        for (int k = 0; k < n; k++) {
            if (zeroed[k]) {
                continue;
            }
            long gc = (firstCluster + k) << s.clusterBits;
            int a = (int) (Math.max(pos, gc) - gc);
            int b = (int) (Math.min(regionEnd, gc + s.clusterSize) - gc);
            for (int[] fill : fills(oldEntry[k], oldBitmap[k], inPlace[k], a, b)) {
                ByteBuffer buf = ByteBuffer.allocate(fill[1] - fill[0]);
                readOld(buf, gc, oldEntry[k], oldBitmap[k], fill[0], below);
                buf.flip();
                s.guard.check(host[k] + fill[0], buf.remaining(), -1);
                s.data.write(buf, host[k] + fill[0]);
            }
        }
        writeGuestBytes(src, pos, host, firstCluster);
        // new entries
        List<long[]> toFree = new ArrayList<>();
        boolean changed = false;
        for (int k = 0; k < n; k++) {
            long gc = (firstCluster + k) << s.clusterBits;
            int a = (int) (Math.max(pos, gc) - gc);
            int b = (int) (Math.min(regionEnd, gc + s.clusterSize) - gc);
            long[] entry = newEntry(oldEntry[k], oldBitmap[k], inPlace[k], host[k], a, b);
            int w = (i0 + k) * s.entryWords;
            if (entry[0] != oldEntry[k] || (s.extended && entry[1] != oldBitmap[k])) {
                changed = true;
                words.set(w, entry[0]);
                if (s.extended) {
                    words.set(w + 1, entry[1]);
                }
            }
            if (!inPlace[k]) {
                toFree.add(new long[] {oldEntry[k]});
            }
        }
        if (changed || allocated) {
            s.orderingBarrier();
            s.guard.check(sliceOffset, (long) s.sliceEntries * s.entryWords * 8, Qcow2MetadataGuard.ACTIVE_L2);
            s.writeSlice(sliceOffset, words.done(), i0, i0 + n);
        }
        freeOld(toFree, false);
    }

    private boolean canWriteInPlace(long entry) {
        if (s.externalData) {
            return true;
        }
        if ((entry & Qcow2L2Entry.OFLAG_COMPRESSED) != 0 || (entry & COPIED) == 0) {
            return false;
        }
        return (entry & Qcow2L2Entry.OFFSET_MASK) != 0;
    }

    /**
     * Gives every cluster that is not written in place a host cluster, as qemu's
     * qcow2_alloc_host_offset gathers a request into host-contiguous chunks: a run of new
     * clusters that continues a chunk (one whose host clusters end at {@code chunkEnd[0]}, in
     * this request) first takes the free clusters found exactly there
     * (qcow2_alloc_clusters_at); what remains, or a run that starts a chunk, gets one
     * contiguous allocation from the free-cluster index (qcow2_alloc_clusters). A cluster kept
     * in place continues the chunk after its own host cluster.
     *
     * @param chunkEnd in and out: host offset where the current chunk would continue, -1 before
     *                 the request's first cluster
     * @return whether anything was allocated
     */
    private boolean allocateRuns(long[] host, boolean[] inPlace, long[] chunkEnd) {
        boolean any = false;
        int k = 0;
        while (k < host.length) {
            if (inPlace[k]) {
                chunkEnd[0] = host[k] + s.clusterSize;
                k++;
                continue;
            }
            int start = k;
            while (k < host.length && !inPlace[k]) {
                k++;
            }
            int j = start;
            if (chunkEnd[0] >= 0) {
                long got = s.refcounts.allocateAt(chunkEnd[0], k - start);
                for (int i = 0; i < got; i++) {
                    host[j + i] = chunkEnd[0] + ((long) i << s.clusterBits);
                }
                j += (int) got;
            }
            if (j < k) {
                long offset = s.refcounts.allocate((long) (k - j) << s.clusterBits);
                for (int i = j; i < k; i++) {
                    host[i] = offset + ((long) (i - j) << s.clusterBits);
                }
            }
            chunkEnd[0] = host[k - 1] + s.clusterSize;
            any = true;
        }
        return any;
    }

    /**
     * qemu's handle_alloc_space: a run of new clusters that needs copy-on-write at its head or
     * tail, where that copy would only bring zeros (and the tail lies inside the virtual disk, as
     * qemu's block-status test demands), and that lies past the end of the host file, gets its
     * whole extent reserved with one fallocate (reading as zeros) instead of zero-filling writes.
     *
     * @return which clusters need no copy-on-write fill any more
     */
    private boolean[] zeroNewClusters(long[] host, boolean[] inPlace, long[] oldEntry, long[] oldBitmap,
                                      long pos, long regionEnd, long firstCluster) {
        int n = host.length;
        boolean[] zeroed = new boolean[n];
        if (s.externalData) {
            return zeroed;
        }
        long fileEnd = -1;
        int k = 0;
        while (k < n) {
            if (inPlace[k]) {
                k++;
                continue;
            }
            int start = k;
            k++;
            while (k < n && !inPlace[k] && host[k] == host[k - 1] + s.clusterSize) {
                k++;
            }
            long runGuestStart = (firstCluster + start) << s.clusterBits;
            long runGuestEnd = (firstCluster + k) << s.clusterBits;
            int headEnd = (int) (Math.max(pos, runGuestStart) - runGuestStart);
            long lastStart = runGuestEnd - s.clusterSize;
            int tailStart = (int) (Math.min(regionEnd, runGuestEnd) - lastStart);
            boolean cowHead = anyStartsBefore(fills(oldEntry[start], oldBitmap[start], false, headEnd,
                    start == k - 1 ? tailStart : (int) s.clusterSize), headEnd);
            boolean cowTail = anyEndsAfter(fills(oldEntry[k - 1], oldBitmap[k - 1], false,
                    start == k - 1 ? headEnd : 0, tailStart), tailStart);
            if (!cowHead && !cowTail
                    || cowHead && !readsAsZeros(oldEntry[start], oldBitmap[start])
                    || cowTail && (runGuestEnd > s.virtualSize || !readsAsZeros(oldEntry[k - 1], oldBitmap[k - 1]))) {
                continue;
            }
            if (fileEnd < 0) {
                fileEnd = s.data.size();
            }
            if (host[start] >= fileEnd) {
                long length = (long) (k - start) << s.clusterBits;
                s.guard.check(host[start], length, -1);
                s.data.preallocate(host[start], length);
                fileEnd = host[start] + length;
                zeroed[start] = true;
                zeroed[k - 1] = true;
            }
        }
        return zeroed;
    }

    /** Whether every (sub)cluster of an entry reads as zeros (no data here or below). */
    private boolean readsAsZeros(long entry, long bitmap) {
        Qcow2L2Entry e = new Qcow2L2Entry(entry, bitmap);
        for (int sc = 0; sc < s.subclusters; sc++) {
            switch (e.subclusterType(sc, s.extended, s.externalData)) {
                case ZERO_PLAIN:
                case ZERO_ALLOC:
                    break;
                case UNALLOCATED_PLAIN:
                case UNALLOCATED_ALLOC:
                    if (s.hasBacking) {
                        return false;
                    }
                    break;
                default:
                    return false;
            }
        }
        return true;
    }

    /** One pwrite per run of host-contiguous clusters. */
    private void writeGuestBytes(ByteBuffer src, long pos, long[] host, long firstCluster) {
        int k = 0;
        int n = host.length;
        long written = 0;
        int total = src.remaining();
        while (k < n) {
            int start = k;
            k++;
            while (k < n && host[k] == host[k - 1] + s.clusterSize) {
                k++;
            }
            long gc = (firstCluster + start) << s.clusterBits;
            long runGuestStart = Math.max(pos, gc);
            long runGuestEnd = Math.min(pos + total, (firstCluster + k) << s.clusterBits);
            long hostStart = host[start] + (runGuestStart - gc);
            ByteBuffer part = src.duplicate();
            part.position(src.position() + (int) written);
            part.limit(part.position() + (int) (runGuestEnd - runGuestStart));
            s.guard.check(hostStart, part.remaining(), -1);
            s.data.write(part, hostStart);
            written += runGuestEnd - runGuestStart;
        }
    }

    /**
     * The cluster-relative ranges {from, to} that copy-on-write must fill for a cluster whose
     * bytes [a, b) are written.
     */
    private List<int[]> fills(long entry, long bitmap, boolean inPlace, int a, int b) {
        List<int[]> out = new ArrayList<>();
        int cs = (int) s.clusterSize;
        if (!s.extended) {
            boolean needsOld = !inPlace || (entry & ZERO) != 0;
            if (needsOld) {
                addRange(out, 0, a);
                addRange(out, b, cs);
            }
            return out;
        }
        int scs = 1 << s.subclusterBits;
        boolean hadData = !inPlace && hasHostData(entry);
        for (int sc = 0; sc < s.subclusters; sc++) {
            int x = sc * scs;
            int y = x + scs;
            Qcow2SubclusterType t = new Qcow2L2Entry(entry, bitmap).subclusterType(sc, true, s.externalData);
            boolean touched = a < y && b > x;
            if (touched) {
                if (inPlace && t == Qcow2SubclusterType.NORMAL) {
                    continue;
                }
                addRange(out, x, Math.max(x, a));
                addRange(out, Math.min(y, b), y);
            } else if (hadData && (t == Qcow2SubclusterType.NORMAL || t == Qcow2SubclusterType.COMPRESSED)) {
                addRange(out, x, y);
            }
        }
        return out;
    }

    /*
     * Loops rather than streams: this runs for every write, and a stream pipeline costs the
     * writer its set-up each time (and the JIT 30 methods to compile).
     */

    /** Whether one of the {from, to} ranges starts before {@code at}. */
    private static boolean anyStartsBefore(List<int[]> ranges, int at) {
        for (int[] r : ranges) {
            if (r[0] < at) {
                return true;
            }
        }
        return false;
    }

    /** Whether one of the {from, to} ranges ends after {@code at}. */
    private static boolean anyEndsAfter(List<int[]> ranges, int at) {
        for (int[] r : ranges) {
            if (r[1] > at) {
                return true;
            }
        }
        return false;
    }

    private static void addRange(List<int[]> out, int from, int to) {
        if (to <= from) {
            return;
        }
        if (!out.isEmpty() && out.get(out.size() - 1)[1] == from) {
            out.get(out.size() - 1)[1] = to;
        } else {
            out.add(new int[] {from, to});
        }
    }

    private boolean hasHostData(long entry) {
        return (entry & Qcow2L2Entry.OFLAG_COMPRESSED) != 0 || (entry & Qcow2L2Entry.OFFSET_MASK) != 0;
    }

    /** The new {entry, bitmap} of a cluster whose bytes [a, b) were written at {@code host}. */
    private long[] newEntry(long entry, long bitmap, boolean inPlace, long host, int a, int b) {
        long word = s.externalData ? (host & Qcow2L2Entry.OFFSET_MASK) | COPIED : host | COPIED;
        if (!s.extended) {
            return new long[] {word, 0};
        }
        int scs = 1 << s.subclusterBits;
        int first = a / scs;
        int last = (b - 1) / scs;
        long touched = ((1L << (last + 1)) - 1) & ~((1L << first) - 1);
        long alloc = bitmap & Qcow2L2Entry.ALL_ALLOC;
        long zero = (bitmap >>> 32) & 0xffffffffL;
        if (!inPlace && (entry & Qcow2L2Entry.OFLAG_COMPRESSED) != 0) {
            alloc = Qcow2L2Entry.ALL_ALLOC;
            zero = 0;
        } else if (!inPlace && (entry & Qcow2L2Entry.OFFSET_MASK) == 0) {
            alloc = 0;
        }
        alloc |= touched;
        zero &= ~touched;
        return new long[] {word, alloc | (zero << 32)};
    }

    /** Fills {@code dst} with what the cluster at guest {@code gc} held from cluster offset {@code from}. */
    private void readOld(ByteBuffer dst, long gc, long entry, long bitmap, int from, BackingReader below) {
        Qcow2L2Entry e = new Qcow2L2Entry(entry, bitmap);
        int scs = 1 << s.subclusterBits;
        int at = from;
        while (dst.hasRemaining()) {
            int sc = at / scs;
            int n = Math.min(dst.remaining(), (sc + 1) * scs - at);
            ByteBuffer piece = dst.slice();
            piece.limit(n);
            Qcow2SubclusterType t = e.subclusterType(sc, s.extended, s.externalData);
            switch (t) {
                case NORMAL:
                    s.data.read(piece, (s.externalData ? gc : e.hostOffset()) + at);
                    break;
                case COMPRESSED:
                    piece.put(decompress.apply(e), at, n);
                    break;
                case ZERO_PLAIN:
                case ZERO_ALLOC:
                    break;
                case UNALLOCATED_PLAIN:
                case UNALLOCATED_ALLOC:
                    below.read(piece, gc + at);
                    break;
                default:
                    throw s.signal.corruption("Invalid cluster entry found  (guest offset: "
                            + Qcow2ClusterMapper.hex(gc) + ")");
            }
            dst.position(dst.position() + n);
            at += n;
        }
    }

    /**
     * qemu's checks of an entry it is about to use for a write; {@code guestOffset} is where the
     * write starts within that cluster. A cluster kept in place (handle_copied) gets qemu's
     * "Data/Preallocated zero cluster offset ... unaligned (guest offset: ...)" wording.
     */
    private void validate(long entry, long bitmap, long l2Offset, int index, long guestOffset) {
        if ((entry & Qcow2L2Entry.OFLAG_COMPRESSED) != 0) {
            return;
        }
        long hostCluster = entry & Qcow2L2Entry.OFFSET_MASK;
        if (hostCluster != 0 && (hostCluster & (s.clusterSize - 1)) != 0 && canWriteInPlace(entry)) {
            throw s.corrupt(((entry & ZERO) != 0 ? "Preallocated zero" : "Data") + " cluster offset "
                    + Qcow2ClusterMapper.hex(hostCluster) + " unaligned (guest offset: "
                    + Qcow2ClusterMapper.hex(guestOffset) + ")");
        }
        if (hostCluster != 0 && (hostCluster & (s.clusterSize - 1)) != 0) {
            throw s.corrupt("Cluster allocation offset " + Qcow2ClusterMapper.hex(hostCluster)
                    + " unaligned (L2 offset: " + Qcow2ClusterMapper.hex(l2Offset) + ", L2 index: "
                    + Qcow2ClusterMapper.hex(index) + ")");
        }
        if (s.extended && (bitmap & (bitmap >>> 32) & Qcow2L2Entry.ALL_ALLOC) != 0) {
            throw s.corrupt("Invalid cluster entry found  (L2 offset: " + Qcow2ClusterMapper.hex(l2Offset)
                    + ", L2 index: " + Qcow2ClusterMapper.hex(index) + ")");
        }
    }

    // ---- L2 tables ----------------------------------------------------------------------------

    /**
     * qemu's get_cluster_table: the offset of the writable (OFLAG_COPIED) L2 table of L1 entry
     * {@code l1Index}, allocating a zeroed one or copying a shared one.
     */
    long writableL2(long l1Index) {
        long l1e = s.l1.entry(l1Index);
        long old = l1e & Qcow2L2Entry.L1_OFFSET_MASK;
        if (old != 0 && (old & (s.clusterSize - 1)) != 0) {
            throw s.corrupt("L2 table offset " + Qcow2ClusterMapper.hex(old) + " unaligned (L1 index: "
                    + Qcow2ClusterMapper.hex(l1Index) + ")");
        }
        if (old != 0 && (l1e & COPIED) != 0) {
            return old;
        }
        long table = s.refcounts.allocate(s.clusterSize);
        s.guard.invalidate();
        long[] words = new long[(int) (s.clusterSize / 8)];
        if (old != 0) {
            ByteBuffer b = HostReads.read(s.file, old, (int) s.clusterSize);
            b.asLongBuffer().get(words);
        }
        ByteBuffer out = ByteBuffer.allocate((int) s.clusterSize);
        out.asLongBuffer().put(words);
        s.file.write(out, table);
        int sliceWords = s.sliceEntries * s.entryWords;
        for (int w = 0; w < words.length; w += sliceWords) {
            s.l2Cache.update(table + w * 8L, Qcow2L2Slice.copyOf(words, w, sliceWords));
        }
        s.barrier();
        s.writeL1Entry(l1Index, table | COPIED);
        if (old != 0) {
            s.orderingBarrier();
            s.refcounts.free(old, s.clusterSize);
        }
        return table;
    }

    // ---- zeroing and discarding ---------------------------------------------------------------

    /**
     * qemu's zero_in_l2_slice over whole clusters [guestOffset, guestOffset+length) (cluster
     * aligned, v3 only).
     */
    void zeroClusters(long guestOffset, long length, boolean mayUnmap) {
        forEachSlice(guestOffset, length, (entry, bitmap) -> {
            Qcow2SubclusterType type = new Qcow2L2Entry(entry, 0).clusterType(s.extended, s.externalData);
            boolean allocated = type != Qcow2SubclusterType.UNALLOCATED_PLAIN && type != Qcow2SubclusterType.ZERO_PLAIN;
            boolean unmap = !s.externalData && (type == Qcow2SubclusterType.COMPRESSED || (mayUnmap && allocated));
            long newEntry = unmap ? 0 : entry;
            long newBitmap = bitmap;
            if (s.extended) {
                newBitmap = Qcow2L2Entry.ALL_ZERO;
            } else {
                newEntry |= ZERO;
            }
            return new long[] {newEntry, newBitmap, unmap ? 1 : 0};
        }, mayUnmap);
    }

    /**
     * qemu's qcow2_subcluster_zeroize on a v3 image: [offset, offset+bytes) is subcluster
     * aligned (its end may be the unaligned end of the disk); partial clusters at either end get
     * their subclusters' zero bits (zero_l2_subclusters), whole clusters become zero clusters.
     *
     * @return false where qemu answers ENOTSUP (part of a compressed cluster)
     */
    boolean zeroSubclusters(long offset, long bytes, boolean mayUnmap) {
        long end = offset + bytes;
        long head = Math.min(end, roundUpCluster(offset)) - offset;
        offset += head;
        long tail = end >= s.virtualSize ? 0 : end - Math.max(offset, end & ~(s.clusterSize - 1));
        end -= tail;
        if (head > 0 && !zeroL2Subclusters(offset - head, head)) {
            return false;
        }
        if (end > offset) {
            zeroClusters(offset, roundUpCluster(end) - offset, mayUnmap);
        }
        return tail <= 0 || zeroL2Subclusters(end, tail);
    }

    private long roundUpCluster(long v) {
        return (v + s.clusterSize - 1) & ~(s.clusterSize - 1);
    }

    /** qemu's zero_l2_subclusters: the subclusters of [offset, offset+bytes) (inside one cluster) read as zeros. */
    private boolean zeroL2Subclusters(long offset, long bytes) {
        long l2Offset = writableL2(offset >>> (s.clusterBits + s.l2Bits));
        long l2Index = (offset >>> s.clusterBits) & ((1L << s.l2Bits) - 1);
        long sliceOffset = s.sliceOffset(l2Offset, l2Index);
        Qcow2L2Slice.Edit words = s.l2Cache.slice(sliceOffset).edit();
        int i = (int) (l2Index % s.sliceEntries);
        long entry = words.word(i * s.entryWords);
        if ((entry & Qcow2L2Entry.OFLAG_COMPRESSED) != 0) {
            return false;
        }
        int first = (int) ((offset & (s.clusterSize - 1)) >>> s.subclusterBits);
        int n = (int) ((bytes + (1L << s.subclusterBits) - 1) >>> s.subclusterBits);
        long range = ((1L << (first + n)) - 1) & ~((1L << first) - 1);
        long bitmap = words.word(i * s.entryWords + 1);
        long updated = (bitmap | (range << 32)) & ~range;
        if (updated != bitmap) {
            words.set(i * s.entryWords + 1, updated);
            s.writeSlice(sliceOffset, words.done(), i, i + 1);
        }
        return true;
    }

    /** The type of the (sub)cluster holding guest {@code offset} in this layer. */
    private Qcow2SubclusterType typeAt(long offset) {
        long l1e = s.l1.entry(offset >>> (s.clusterBits + s.l2Bits));
        long l2 = l1e & Qcow2L2Entry.L1_OFFSET_MASK;
        if (l2 == 0) {
            return Qcow2SubclusterType.UNALLOCATED_PLAIN;
        }
        long l2Index = (offset >>> s.clusterBits) & ((1L << s.l2Bits) - 1);
        Qcow2L2Slice words = s.l2Cache.slice(s.sliceOffset(l2, l2Index));
        int w = (int) (l2Index % s.sliceEntries) * s.entryWords;
        Qcow2L2Entry e = new Qcow2L2Entry(words.word(w), s.extended ? words.word(w + 1) : 0);
        int sc = (int) ((offset & (s.clusterSize - 1)) >>> s.subclusterBits);
        return e.subclusterType(sc, s.extended, s.externalData);
    }

    /** Whether qemu's pwrite_zeroes may turn the (sub)cluster at {@code offset} into a zero one. */
    boolean zeroableSubcluster(long offset) {
        switch (typeAt(offset)) {
            case UNALLOCATED_PLAIN:
            case UNALLOCATED_ALLOC:
            case ZERO_PLAIN:
            case ZERO_ALLOC:
                return true;
            default:
                return false;
        }
    }

    /**
     * qemu's is_zero: whether guest [offset, offset+bytes) (clamped to the disk) reads as zeros by
     * block status (zero (sub)clusters here, or unallocated here and zero below), not by content.
     */
    boolean readsAsZeros(long offset, long bytes, BackingReader below) {
        long end = Math.min(offset + bytes, s.virtualSize);
        long sc = 1L << s.subclusterBits;
        long pos = offset;
        while (pos < end) {
            long next = Math.min(end, (pos & ~(sc - 1)) + sc);
            switch (typeAt(pos)) {
                case ZERO_PLAIN:
                case ZERO_ALLOC:
                    break;
                case UNALLOCATED_PLAIN:
                case UNALLOCATED_ALLOC:
                    if (!below.readsAsZeros(pos, next - pos)) {
                        return false;
                    }
                    break;
                default:
                    return false;
            }
            pos = next;
        }
        return true;
    }

    /** qemu's discard_in_l2_slice (full_discard false) over whole clusters. */
    void discardClusters(long guestOffset, long length) {
        forEachSlice(guestOffset, length, (entry, bitmap) -> {
            Qcow2SubclusterType type = new Qcow2L2Entry(entry, 0).clusterType(s.extended, s.externalData);
            boolean allocated = type != Qcow2SubclusterType.UNALLOCATED_PLAIN && type != Qcow2SubclusterType.ZERO_PLAIN;
            long newEntry = entry;
            long newBitmap = bitmap;
            if (s.hasBacking || allocated) {
                if (s.extended) {
                    newEntry = 0;
                    newBitmap = Qcow2L2Entry.ALL_ZERO;
                } else {
                    newEntry = s.version >= 3 ? ZERO : 0;
                    newBitmap = 0;
                }
            }
            return new long[] {newEntry, newBitmap, 1};
        }, true);
    }

    /** qemu's full discard (shrinking): entries of whole clusters cleared, their clusters freed. */
    void fullDiscard(long guestOffset, long length) {
        passThrough = true;
        try {
            forEachSlice(guestOffset, length, (entry, bitmap) -> new long[] {0, 0, 1}, true);
        } finally {
            passThrough = false;
        }
    }

    /**
     * Maps clusters of [from, to) (inside one L2 table) to new host clusters with OFLAG_COPIED
     * (subcluster bitmaps left as they are), the L2 table first: with {@code host} >= 0 every
     * cluster, to one contiguous run at {@code host} (falloc/full preallocation); with
     * {@code host} < 0 (metadata preallocation, qcow2_alloc_host_offset) the clusters without a
     * host cluster and those shared with a snapshot, to clusters allocated here.
     *
     * <p>A remapped cluster gets qemu's copy-on-write of what the guest saw outside the range:
     * the head before {@code from}, and with {@code cowTail} the tail after {@code to}, read from
     * the old mapping or from {@code below} (a head of zeros is written too, as qemu does). The
     * old host cluster then loses its reference. With extended L2, metadata preallocation copies
     * nothing: the bitmaps it leaves untouched keep reading what they read.
     *
     * @return the host offset after the last mapped cluster (0 when none)
     */
    long mapNewClusters(long from, long to, long host, BackingReader below, boolean cowTail) {
        long l2Offset = writableL2(from >>> (s.clusterBits + s.l2Bits));
        long first = from >>> s.clusterBits;
        long last = (to - 1) >>> s.clusterBits;
        boolean allocating = host < 0;
        boolean cow = !s.externalData && !(allocating && s.extended);
        long hostEnd = 0;
        long c = first;
        while (c <= last) {
            long l2Index = c & ((1L << s.l2Bits) - 1);
            long sliceOffset = s.sliceOffset(l2Offset, l2Index);
            int i0 = (int) (l2Index % s.sliceEntries);
            int n = (int) Math.min(last - c + 1, s.sliceEntries - i0);
            Qcow2L2Slice.Edit words = s.l2Cache.slice(sliceOffset).edit();
            int needed = 0;
            for (int k = 0; k < n; k++) {
                if (remaps(words.word((i0 + k) * s.entryWords), allocating)) {
                    needed++;
                }
            }
            if (needed > 0) {
                long run;
                if (s.externalData) {
                    run = c << s.clusterBits;
                } else if (!allocating) {
                    run = host;
                    host += (long) needed << s.clusterBits;
                } else {
                    run = s.refcounts.allocate((long) needed << s.clusterBits);
                }
                List<long[]> replaced = new ArrayList<>();
                for (int k = 0; k < n; k++) {
                    int w = (i0 + k) * s.entryWords;
                    long old = words.word(w);
                    if (!remaps(old, allocating)) {
                        continue;
                    }
                    long at = s.externalData ? (c + k) << s.clusterBits : run;
                    long gc = (c + k) << s.clusterBits;
                    // the file is extended to the end of the last subcluster the range touches
                    long used = Math.min(to, gc + s.clusterSize) - gc;
                    long sub = 1L << s.subclusterBits;
                    hostEnd = Math.max(hostEnd, at + (used + sub - 1) / sub * sub);
                    if (cow) {
                        long bitmap = s.extended ? words.word(w + 1) : 0;
                        if (from > gc) {
                            copyOld(gc, old, bitmap, 0, (int) (from - gc), at, below);
                        }
                        if (cowTail && to < gc + s.clusterSize) {
                            copyOld(gc, old, bitmap, (int) (to - gc), (int) s.clusterSize, at, below);
                            hostEnd = Math.max(hostEnd, at + s.clusterSize);
                        }
                        if (hasHostData(old)) {
                            replaced.add(new long[] {old});
                        }
                    }
                    words.set(w, at | COPIED);
                    // extended L2: qemu links preallocated clusters with the bitmap untouched
                    // (QCowL2Meta.prealloc), so their subclusters stay unallocated
                    if (!s.externalData) {
                        run += s.clusterSize;
                    }
                }
                s.orderingBarrier();
                s.writeSlice(sliceOffset, words.done(), i0, i0 + n);
                freeOld(replaced, false);
            }
            c += n;
        }
        return hostEnd;
    }

    /** Whether {@link #mapNewClusters} gives the cluster of {@code entry} a new host cluster. */
    private boolean remaps(long entry, boolean allocating) {
        return !allocating || s.externalData || !hasHostData(entry) || sharedData(entry);
    }

    /** A data cluster shared with a snapshot: not compressed, not zero, without OFLAG_COPIED. */
    private boolean sharedData(long entry) {
        return !s.externalData && !s.extended && (entry & Qcow2L2Entry.OFLAG_COMPRESSED) == 0
                && (entry & (COPIED | ZERO)) == 0 && (entry & Qcow2L2Entry.OFFSET_MASK) != 0;
    }

    /**
     * Copies bytes [a, b) of the guest cluster at {@code gc}, as its old {@code entry} maps them
     * (or {@code below} where it maps nothing), to the same place in host cluster {@code at}.
     */
    private void copyOld(long gc, long entry, long bitmap, int a, int b, long at, BackingReader below) {
        ByteBuffer buf = ByteBuffer.allocate(b - a);
        readOld(buf, gc, entry, bitmap, a, below);
        s.guard.check(at + a, b - a, -1);
        s.data.write(buf.flip(), at + a);
    }

    /** v2 without a backing file: whole clusters become unallocated. */
    void unallocateClusters(long guestOffset, long length) {
        forEachSlice(guestOffset, length, (entry, bitmap) -> new long[] {0, 0, 1}, true);
    }

    /** Computes {newEntry, newBitmap, freeOld(1/0)} from {entry, bitmap}. */
    private interface EntryRewrite {
        long[] apply(long entry, long bitmap);
    }

    private void forEachSlice(long guestOffset, long length, EntryRewrite rewrite, boolean punch) {
        long end = guestOffset + length;
        long pos = guestOffset;
        while (pos < end) {
            long regionEnd = Math.min(end, sliceGuestEnd(pos));
            long l1Index = pos >>> (s.clusterBits + s.l2Bits);
            long l2Index = (pos >>> s.clusterBits) & ((1L << s.l2Bits) - 1);
            int i0 = (int) (l2Index % s.sliceEntries);
            int n = (int) ((regionEnd - pos) >>> s.clusterBits);
            if (n > 0) {
                // qemu's get_cluster_table: the slice's table is made writable (allocated or
                // copied) whether or not an entry changes
                long table = writableL2(l1Index);
                long sliceOffset = s.sliceOffset(table, l2Index);
                Qcow2L2Slice.Edit words = s.l2Cache.slice(sliceOffset).edit();
                List<long[]> toFree = new ArrayList<>();
                boolean changed = false;
                for (int k = 0; k < n; k++) {
                    int w = (i0 + k) * s.entryWords;
                    long e = words.word(w);
                    long bm = s.extended ? words.word(w + 1) : 0;
                    long[] r = rewrite.apply(e, bm);
                    if (r[0] == e && (!s.extended || r[1] == bm)) {
                        continue;
                    }
                    changed = true;
                    words.set(w, r[0]);
                    if (s.extended) {
                        words.set(w + 1, r[1]);
                    }
                    if (r[2] != 0) {
                        toFree.add(new long[] {e});
                    }
                }
                if (!changed) {
                    pos = regionEnd;
                    continue;
                }
                s.orderingBarrier();
                s.writeSlice(sliceOffset, words.done(), i0, i0 + n);
                freeOld(toFree, punch);
            }
            pos = regionEnd;
        }
    }

    /** Drops the refcounts of replaced entries (after a barrier) and punches what became free. */
    private void freeOld(List<long[]> entries, boolean punch) {
        if (s.externalData) {
            if (passThrough) {
                for (long[] holder : entries) {
                    long e = holder[0];
                    Qcow2SubclusterType t = new Qcow2L2Entry(e, 0).clusterType(s.extended, true);
                    if (t == Qcow2SubclusterType.NORMAL || t == Qcow2SubclusterType.ZERO_ALLOC) {
                        // with a data file, offset 0 is a real mapping (guest cluster 0)
                        s.data.punchHole(e & Qcow2L2Entry.OFFSET_MASK, s.clusterSize);
                    }
                }
            }
            return;
        }
        if (entries.isEmpty()) {
            return;
        }
        boolean barrierDone = false;
        freedClusters.clear();
        for (long[] holder : entries) {
            long e = holder[0];
            if ((e & Qcow2L2Entry.OFLAG_COMPRESSED) != 0) {
                if (!barrierDone) {
                    s.orderingBarrier();
                    barrierDone = true;
                }
                int shift = Qcow2L2Entry.compressedSizeShift(s.clusterBits);
                long offset = e & ((1L << shift) - 1);
                long sectors = ((e >>> shift) & ((1L << (s.clusterBits - 8)) - 1)) + 1;
                s.refcounts.free(offset & ~511L, sectors * 512);
            } else if ((e & Qcow2L2Entry.OFFSET_MASK) != 0) {
                if (!barrierDone) {
                    s.orderingBarrier();
                    barrierDone = true;
                }
                s.refcounts.free(e & Qcow2L2Entry.OFFSET_MASK, s.clusterSize);
            }
        }
        if (punch) {
            for (long c : freedClusters) {
                s.file.punchHole(c << s.clusterBits, s.clusterSize);
            }
        }
        freedClusters.clear();
    }

    // ---- compressed clusters ------------------------------------------------------------------

    /**
     * Stores {@code compressed} bytes as the compressed cluster at guest {@code gc}
     * (qcow2_alloc_compressed_cluster_offset: packed into partly used host clusters).
     */
    void writeCompressedCluster(long gc, byte[] compressed, int length) {
        long l2Offset = writableL2(gc >>> (s.clusterBits + s.l2Bits));
        long l2Index = (gc >>> s.clusterBits) & ((1L << s.l2Bits) - 1);
        long sliceOffset = s.sliceOffset(l2Offset, l2Index);
        Qcow2L2Slice.Edit words = s.l2Cache.slice(sliceOffset).edit();
        int i = (int) (l2Index % s.sliceEntries);
        long old = words.word(i * s.entryWords);
        if ((old & Qcow2L2Entry.OFFSET_MASK) != 0 || (old & Qcow2L2Entry.OFLAG_COMPRESSED) != 0) {
            throw new StrataException(ErrorKind.EINVAL, "Compressed write to an allocated cluster at guest offset "
                    + gc + " of '" + s.file.name() + "'");
        }
        long host = s.refcounts.allocateBytes(length);
        s.guard.check(host, length, -1);
        s.file.write(ByteBuffer.wrap(compressed, 0, length), host);
        int shift = Qcow2L2Entry.compressedSizeShift(s.clusterBits);
        long sectors = ((host + length - 1) >>> 9) - (host >>> 9);
        words.set(i * s.entryWords, Qcow2L2Entry.OFLAG_COMPRESSED | (sectors << shift) | host);
        if (s.extended) {
            words.set(i * s.entryWords + 1, 0);
        }
        s.orderingBarrier();
        s.writeSlice(sliceOffset, words.done(), i, i + 1);
    }
}
