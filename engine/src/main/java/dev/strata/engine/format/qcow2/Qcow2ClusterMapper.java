package dev.strata.engine.format.qcow2;

/*
 * Design note: guest offset -> (subcluster type, run length, host offset), the read half of
 * qemu's qcow2_get_host_offset. A run never leaves one L2 slice, has one subcluster type, and
 * for types with a host cluster is contiguous on the host; compressed clusters come one at a
 * time. Every metadata inconsistency qemu reports as a corruption (unaligned L2 table or
 * cluster, zero clusters in v2, compressed clusters with an external data file, mismatched
 * external offsets, invalid subcluster bitmaps) is signalled as one (qcow2_signal_corruption)
 * and fails the lookup with an EIO carrying qemu's text.
 */

import dev.strata.engine.StrataException;

/** Maps guest offsets through the L1 and L2 tables. Thread-safe. */
final class Qcow2ClusterMapper {
    private final Qcow2Header header;
    private volatile Qcow2L1Table l1;
    private final Qcow2L2Cache cache;
    private final Qcow2CorruptionSignal signal;
    private final int clusterBits;
    private final long clusterSize;
    private final int l2Bits;
    private final int subclusterBits;
    private final int subclustersPerCluster;
    private final boolean extended;
    private final boolean dataFile;
    private final int sliceEntries;

    /**
     * One run of guest bytes with one subcluster type.
     *
     * @param type       the subcluster type
     * @param length     bytes from the looked-up offset, greater than zero
     * @param hostOffset for types with a host cluster: host offset of the looked-up byte
     * @param entry      the L2 entry (for compressed clusters: the descriptor), or null when
     *                   there is no L2 table
     */
    record Run(Qcow2SubclusterType type, long length, long hostOffset, Qcow2L2Entry entry) {
    }

    Qcow2ClusterMapper(Qcow2Header header, Qcow2L1Table l1, Qcow2L2Cache cache, Qcow2CorruptionSignal signal) {
        this.header = header;
        this.l1 = l1;
        this.cache = cache;
        this.signal = signal;
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.extended = header.extendedL2();
        this.l2Bits = clusterBits - (extended ? 4 : 3);
        this.subclustersPerCluster = extended ? Qcow2Header.SUBCLUSTERS_PER_CLUSTER : 1;
        this.subclusterBits = clusterBits - Integer.numberOfTrailingZeros(subclustersPerCluster);
        this.dataFile = header.hasDataFile();
        this.sliceEntries = cache.sliceBytes() / header.l2EntrySize();
    }

    /** Switches to a new active L1 table (after the writer grew or moved it). */
    void l1(Qcow2L1Table table) {
        this.l1 = table;
    }

    /**
     * Looks up {@code guestOffset}.
     *
     * @param maxLength the most the run may cover (greater than zero)
     * @throws StrataException EIO on corrupt metadata, after signalling the corruption
     */
    Run lookup(long guestOffset, long maxLength) {
        long offsetInCluster = guestOffset & (clusterSize - 1);
        long bytesNeeded = maxLength + offsetInCluster;
        long l2Index = (guestOffset >>> clusterBits) & ((1L << l2Bits) - 1);
        int indexInSlice = (int) (l2Index % sliceEntries);
        long bytesAvailable = (long) (sliceEntries - indexInSlice) << clusterBits;
        bytesNeeded = Math.min(bytesNeeded, bytesAvailable);

        long l1Index = guestOffset >>> (clusterBits + l2Bits);
        Qcow2L1Table table = l1;
        long l2Offset = l1Index < table.size() ? table.l2Offset(l1Index) : 0;
        if (l2Offset == 0) {
            return new Run(Qcow2SubclusterType.UNALLOCATED_PLAIN, bytesNeeded - offsetInCluster, 0, null);
        }
        if ((l2Offset & (clusterSize - 1)) != 0) {
            throw signal.corruption("L2 table offset " + hex(l2Offset) + " unaligned (L1 index: "
                    + hex(l1Index) + ")");
        }
        long sliceOffset = l2Offset + (l2Index / sliceEntries) * cache.sliceBytes();
        Qcow2L2Slice slice = cache.slice(sliceOffset);
        Qcow2L2Entry entry = entryAt(slice, indexInSlice);
        int scIndex = (int) ((guestOffset >>> subclusterBits) & (subclustersPerCluster - 1));
        long nbClusters = (bytesNeeded + clusterSize - 1) >>> clusterBits;

        Qcow2SubclusterType type = entry.subclusterType(scIndex, extended, dataFile);
        if (header.version() < 3
                && (type == Qcow2SubclusterType.ZERO_PLAIN || type == Qcow2SubclusterType.ZERO_ALLOC)) {
            throw signal.corruption("Zero cluster entry found in pre-v3 image (L2 offset: " + hex(l2Offset)
                    + ", L2 index: " + hex(indexInSlice) + ")");
        }
        long hostOffset = 0;
        if (type == Qcow2SubclusterType.COMPRESSED && dataFile) {
            throw signal.corruption("Compressed cluster entry found in image with external data file (L2 offset: "
                    + hex(l2Offset) + ", L2 index: " + hex(indexInSlice) + ")");
        }
        if (type.hasHostCluster()) {
            long hostCluster = entry.hostOffset();
            hostOffset = hostCluster + offsetInCluster;
            if ((hostCluster & (clusterSize - 1)) != 0) {
                throw signal.corruption("Cluster allocation offset " + hex(hostCluster) + " unaligned (L2 offset: "
                        + hex(l2Offset) + ", L2 index: " + hex(indexInSlice) + ")");
            }
            if (dataFile && hostOffset != guestOffset) {
                throw signal.corruption("External data file host cluster offset " + hex(hostCluster)
                        + " does not match guest cluster offset: " + hex(guestOffset - offsetInCluster)
                        + ", L2 index: " + hex(indexInSlice) + ")");
            }
        }
        int sc = countContiguous(slice, indexInSlice, scIndex, (int) nbClusters);
        if (sc < 0) {
            throw signal.corruption("Invalid cluster entry found  (L2 offset: " + hex(l2Offset) + ", L2 index: "
                    + hex(indexInSlice + (-sc - 1)) + ")");
        }
        long available = Math.min((long) (sc + scIndex) << subclusterBits, bytesNeeded);
        return new Run(type, available - offsetInCluster, hostOffset, entry);
    }

    /**
     * qemu's count_contiguous_subclusters: subclusters of the same type from (index, scIndex)
     * on, over at most {@code nbClusters} entries, contiguous on the host where they have a
     * host cluster. Returns -(i + 1) when entry index + i is invalid.
     */
    private int countContiguous(Qcow2L2Slice slice, int index, int scIndex, int nbClusters) {
        if (!extended) {
            return countContiguousClusters(slice, index, nbClusters);
        }
        int count = 0;
        Qcow2SubclusterType expected = null;
        long expectedOffset = 0;
        boolean checkOffset = false;
        for (int i = 0; i < nbClusters; i++) {
            int firstSc = i == 0 ? scIndex : 0;
            Qcow2L2Entry e = entryAt(slice, index + i);
            int run = e.subclusterRun(firstSc, extended, dataFile);
            if (run < 0) {
                return -(i + 1);
            }
            Qcow2SubclusterType type = e.subclusterType(firstSc, extended, dataFile);
            if (i == 0) {
                if (type == Qcow2SubclusterType.COMPRESSED) {
                    return run;
                }
                expected = type;
                expectedOffset = e.hostOffset();
                checkOffset = type.hasHostCluster();
            } else if (type != expected) {
                break;
            } else if (checkOffset) {
                expectedOffset += clusterSize;
                if (expectedOffset != e.hostOffset()) {
                    break;
                }
            }
            count += run;
            if (firstSc + run < subclustersPerCluster) {
                break;
            }
        }
        return count;
    }

    /**
     * {@link #countContiguous} for standard (64-bit) entries, where a subcluster is the whole
     * cluster and no entry is invalid: the same answer, decoded from the words in place (this
     * loop runs once per cluster of every block-status query, mostly before it is compiled).
     */
    private int countContiguousClusters(Qcow2L2Slice slice, int index, int nbClusters) {
        long first = slice.word(index);
        Qcow2SubclusterType type = Qcow2L2Entry.clusterType(first, false, dataFile);
        if (type == Qcow2SubclusterType.COMPRESSED) {
            return 1;
        }
        boolean checkOffset = type.hasHostCluster();
        long expectedOffset = first & Qcow2L2Entry.OFFSET_MASK;
        int count = 1;
        while (count < nbClusters) {
            long word = slice.word(index + count);
            if (Qcow2L2Entry.clusterType(word, false, dataFile) != type) {
                break;
            }
            if (checkOffset) {
                expectedOffset += clusterSize;
                if ((word & Qcow2L2Entry.OFFSET_MASK) != expectedOffset) {
                    break;
                }
            }
            count++;
        }
        return count;
    }

    private Qcow2L2Entry entryAt(Qcow2L2Slice slice, int index) {
        return extended ? new Qcow2L2Entry(slice.word(index * 2), slice.word(index * 2 + 1))
                : new Qcow2L2Entry(slice.word(index), 0);
    }

    /** C's "%#" PRIx64: 0x-prefixed lowercase hex, plain "0" for zero. */
    static String hex(long v) {
        return v == 0 ? "0" : "0x" + Long.toHexString(v);
    }
}
