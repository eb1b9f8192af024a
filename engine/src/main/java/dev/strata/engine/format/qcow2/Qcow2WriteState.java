package dev.strata.engine.format.qcow2;

/*
 * Design note: what the write-side classes of one open qcow2 layer share: geometry, the host
 * files, the active L1 table (in memory, full length, mutated in place under the writer's
 * metadata lock and read without locks by the mapper), the L2 slice cache the read side uses
 * too, the refcount writer, the metadata overlap guard and the flush policy. It also owns the
 * small header rewrites (size, L1 pointer, feature bits) and re-reads the header afterwards so
 * the driver's view stays current.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.storage.CacheMode;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.function.Consumer;

/** Shared state of a qcow2 layer opened for writing. Accessed under the writer's locks. */
final class Qcow2WriteState {
    /** Header offset of l1_size (followed by l1_table_offset). */
    static final int HEADER_L1_FIELD = 36;
    /** Header offset of the virtual size. */
    static final int HEADER_SIZE_FIELD = 24;
    /** Header offset of incompatible_features. */
    static final int HEADER_INCOMPATIBLE_FIELD = 72;

    final Storage file;
    final Storage data;
    final CacheMode cache;
    final Qcow2CorruptionSignal signal;
    final Qcow2L2Cache l2Cache;
    final Qcow2ClusterMapper mapper;
    final Qcow2RefcountWriter refcounts;
    final Qcow2MetadataGuard guard;
    /** L2 entries and refcounts written back later, when the writer turned that on. */
    final Qcow2PendingMetadata pending;
    final int version;
    final int clusterBits;
    final long clusterSize;
    final boolean extended;
    final boolean externalData;
    final int l2Bits;
    final int entryWords;
    final int sliceEntries;
    final int subclusterBits;
    final int subclusters;
    final int compressionType;
    final boolean lazyRefcounts;
    final boolean hasBacking;
    private final Consumer<Qcow2Header> headerChanged;
    volatile Qcow2L1Table l1;
    volatile Qcow2Header header;
    volatile long virtualSize;
    volatile boolean corrupted;

    Qcow2WriteState(Storage file, Storage data, Qcow2Header header, Qcow2L1Table l1, Qcow2L2Cache l2Cache,
                    Qcow2ClusterMapper mapper, Qcow2SnapshotTable snapshots, Qcow2CorruptionSignal signal,
                    CacheMode cache, Consumer<Qcow2Header> headerChanged) {
        this.file = file;
        this.data = data;
        this.cache = cache;
        this.signal = signal;
        this.l2Cache = l2Cache;
        this.mapper = mapper;
        this.header = header;
        this.headerChanged = headerChanged;
        this.version = header.version();
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.extended = header.extendedL2();
        this.externalData = header.hasDataFile();
        this.l2Bits = clusterBits - (extended ? 4 : 3);
        this.entryWords = extended ? 2 : 1;
        this.sliceEntries = l2Cache.sliceBytes() / header.l2EntrySize();
        this.subclusters = extended ? Qcow2Header.SUBCLUSTERS_PER_CLUSTER : 1;
        this.subclusterBits = clusterBits - Integer.numberOfTrailingZeros(subclusters);
        this.compressionType = header.compressionType();
        this.lazyRefcounts = header.lazyRefcounts();
        this.hasBacking = header.backingFileName() != null;
        this.virtualSize = header.virtualSize();
        long[] full = Arrays.copyOf(l1.stored(), (int) l1.size());
        this.l1 = new Qcow2L1Table(l1.offset(), l1.size(), full);
        mapper.l1(this.l1);
        Runnable barrier = new Barrier();
        this.refcounts = new Qcow2RefcountWriter(file, header, signal, barrier);
        this.guard = new Qcow2MetadataGuard(this, snapshots);
        this.pending = new Qcow2PendingMetadata(file, l2Cache, refcounts, barrier);
    }

    /**
     * Runs {@link #barrier()}. A class, not a method reference: built at every writable open
     * (see HostFiles.Binding).
     */
    private final class Barrier implements Runnable {
        @Override
        public void run() {
            barrier();
        }
    }

    /** A flush barrier between dependent metadata updates, when the cache mode honours flushes. */
    void barrier() {
        if (cache.honoursFlush()) {
            file.flush();
            if (data != file) {
                data.flush();
            }
        }
    }

    /** Host offset of the L2 slice holding the entry of guest cluster {@code l2Index} of a table. */
    long sliceOffset(long l2Offset, long l2Index) {
        return l2Offset + (l2Index / sliceEntries) * (long) sliceEntries * entryWords * 8;
    }

    /**
     * The barrier between a dependent update and what it depends on, where the update is written
     * at once; with metadata written back, {@link Qcow2PendingMetadata} orders the writes instead.
     */
    void orderingBarrier() {
        if (!pending.active()) {
            barrier();
        }
    }

    /**
     * Publishes entries [from, to) of {@code words} (one slice): written to disk now, or pending
     * when metadata is written back.
     */
    void writeSlice(long sliceOffset, Qcow2L2Slice words, int from, int to) {
        int w0 = from * entryWords;
        int w1 = to * entryWords;
        if (pending.active()) {
            pending.l2Changed(sliceOffset, words, w0 * 8, w1 * 8);
            return;
        }
        ByteBuffer b = ByteBuffer.allocate((w1 - w0) * 8);
        words.put(b, w0, w1);
        file.write(b, sliceOffset + w0 * 8L);
        l2Cache.update(sliceOffset, words);
    }

    /** Writes L1 entry {@code index} to disk (after the refcounts it relies on) and memory. */
    void writeL1Entry(long index, long value) {
        pending.incrementsBeforeDirectWrite();
        file.write(ByteBuffer.allocate(8).putLong(0, value), l1.offset() + index * 8);
        l1.stored()[(int) index] = value;
    }

    /** Installs a new active L1 table (already written) in the header and in memory. */
    void switchL1(Qcow2L1Table table) {
        ByteBuffer h = ByteBuffer.allocate(12).putInt(0, (int) table.size()).putLong(4, table.offset());
        file.write(h, HEADER_L1_FIELD);
        barrier();
        l1 = table;
        mapper.l1(table);
        rereadHeader();
    }

    /** Writes the virtual size into the header. */
    void writeSize(long size) {
        file.write(ByteBuffer.allocate(8).putLong(0, size), HEADER_SIZE_FIELD);
        barrier();
        virtualSize = size;
        rereadHeader();
    }

    /** Writes the incompatible feature bits. */
    void writeIncompatible(long bits) {
        file.write(ByteBuffer.allocate(8).putLong(0, bits), HEADER_INCOMPATIBLE_FIELD);
        rereadHeader();
    }

    /**
     * qemu's fatal qcow2_signal_corruption: sets the corrupt bit on disk, reports the event and
     * returns the EIO to throw; the writer refuses every later request.
     */
    StrataException corrupt(String reason) {
        if (!corrupted) {
            corrupted = true;
            try {
                writeIncompatible(header.incompatibleFeatures() | Qcow2FeatureBits.INCOMPAT_CORRUPT);
                barrier();
            } catch (StrataException e) {
                // the event and the EIO matter more than the bit
            }
        }
        return signal.fatal(reason);
    }

    /** Re-reads the header after a change and tells the driver. */
    void rereadHeader() {
        Qcow2Header h = Qcow2Header.parse(file, true);
        header = h;
        headerChanged.accept(h);
    }
}
