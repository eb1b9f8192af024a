package dev.strata.engine.format.qcow2.check;

/*
 * Design note: the two passes qemu runs after recounting: compare_refcounts (every cluster of the
 * file: stored refcount against recounted references; higher stored means leaked, lower means
 * corrupt) and check_oflag_copied (OFLAG_COPIED must be set exactly where the stored refcount is
 * one, for active L1 entries and for the data clusters of active L2 tables).
 *
 * The comparison walks refcount block by refcount block, decoding each block once. A refcount
 * table entry that is not cluster aligned makes every lookup in its range fail the way
 * qcow2_get_refcount fails (EIO); the first failure also prints qemu's one-time corruption
 * notice: the non-fatal kind on a read-only image, the fatal kind (the image is marked corrupt)
 * when a repair opened it read-write. A referenced cluster with stored refcount 0 means the
 * refcount structure must be rebuilt (needsRebuild).
 */

import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2L1Table;
import dev.strata.engine.format.qcow2.Qcow2L2Entry;
import dev.strata.engine.format.qcow2.Qcow2SubclusterType;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.function.Consumer;

/** Compares recounted and stored refcounts and checks OFLAG_COPIED. */
final class RefcountComparison {
    private final Storage file;
    private final Qcow2Header header;
    private final long fileLength;
    private final StoredRefcounts stored;
    private final CheckTally tally;
    private final CheckListener out;
    private boolean signaledCorruption;
    private Consumer<String> fatalSignal;
    private boolean rebuild;

    RefcountComparison(Storage file, Qcow2Header header, long fileLength, StoredRefcounts stored, CheckTally tally,
                       CheckListener out) {
        this.file = file;
        this.header = header;
        this.fileLength = fileLength;
        this.stored = stored;
        this.tally = tally;
        this.out = out;
    }

    /**
     * Makes corruption events fatal (the image is open read-write): {@code signal} gets the
     * reason, prints qemu's fatal line and marks the image corrupt.
     *
     * @return this comparison
     */
    RefcountComparison fatalOnCorruption(Consumer<String> signal) {
        this.fatalSignal = signal;
        return this;
    }

    /** Whether the comparison found a referenced cluster with stored refcount 0. */
    boolean needsRebuild() {
        return rebuild;
    }

    /**
     * qemu's compare_refcounts (without repair).
     *
     * @return the highest cluster index with a stored or recounted refcount (0 if none)
     */
    long compare(ComputedRefcounts refs) {
        long clusters = refs.size();
        int blockBits = stored.blockBits();
        int order = stored.refcountOrder();
        long highest = 0;
        for (long first = 0; first < clusters; first += 1L << blockBits) {
            long end = Math.min(clusters, first + (1L << blockBits));
            byte[] block;
            try {
                block = stored.blockAt(first >>> blockBits);
            } catch (StoredRefcounts.UnalignedBlock | StoredRefcounts.UnreadableBlock e) {
                if (e instanceof StoredRefcounts.UnalignedBlock u) {
                    signal(u);
                }
                for (long i = first; i < end; i++) {
                    out.line("Can't get refcount for cluster " + i + ": Input/output error");
                    tally.checkErrors++;
                }
                continue;
            }
            for (long i = first; i < end; i++) {
                long refcount1 = block == null ? 0 : StoredRefcounts.entry(block, i - first, order);
                long refcount2 = refs.get(i);
                if (refcount1 != 0 || refcount2 != 0) {
                    highest = i;
                }
                if (refcount1 != refcount2) {
                    if (refcount1 == 0) {
                        rebuild = true;
                    }
                    boolean corrupt = Long.compareUnsigned(refcount1, refcount2) < 0;
                    out.line((corrupt ? "ERROR" : "Leaked") + " cluster " + i + " refcount="
                            + Long.toUnsignedString(refcount1) + " reference=" + Long.toUnsignedString(refcount2));
                    if (corrupt) {
                        tally.corruptions++;
                    } else {
                        tally.leaks++;
                    }
                }
            }
        }
        return highest;
    }

    /** qemu's check_oflag_copied (without repair), over the active L1 table. */
    void checkCopiedFlags(Qcow2L1Table l1) {
        int clusterBits = header.clusterBits();
        boolean extendedL2 = header.extendedL2();
        boolean dataFile = header.hasDataFile();
        ByteBuffer table = ByteBuffer.allocate(header.clusterSize());
        for (int i = 0; i < l1.stored().length; i++) {
            long l1Entry = l1.stored()[i];
            long l2Offset = l1Entry & Qcow2L2Entry.L1_OFFSET_MASK;
            if (l2Offset == 0) {
                continue;
            }
            Long refcount = lookup(l2Offset >>> clusterBits);
            if (refcount == null) {
                continue;
            }
            if ((refcount == 1) != ((l1Entry & Qcow2L2Entry.OFLAG_COPIED) != 0)) {
                tally.corruptions++;
                out.line("ERROR OFLAG_COPIED L2 cluster: l1_index=" + i + " l1_entry=" + Long.toHexString(l1Entry)
                        + " refcount=" + Long.toUnsignedString(refcount));
            }
            if (l2Offset >= fileLength) {
                continue; // reads as zeros: no allocated entries
            }
            table.clear();
            file.read(table, l2Offset);
            for (int j = 0; j < header.l2Entries(); j++) {
                Qcow2L2Entry e = Qcow2L2Entry.at(table, j, extendedL2);
                Qcow2SubclusterType type = e.clusterType(extendedL2, dataFile);
                if (type != Qcow2SubclusterType.NORMAL && type != Qcow2SubclusterType.ZERO_ALLOC) {
                    continue;
                }
                long dataRefcount;
                if (dataFile) {
                    dataRefcount = 1;
                } else {
                    Long r = lookup(e.hostOffset() >>> clusterBits);
                    if (r == null) {
                        continue;
                    }
                    dataRefcount = r;
                }
                if ((dataRefcount == 1) != e.isCopied()) {
                    tally.corruptions++;
                    out.line("ERROR OFLAG_COPIED data cluster: l2_entry=" + Long.toHexString(e.entry())
                            + " refcount=" + Long.toUnsignedString(dataRefcount));
                }
            }
        }
    }

    /** qcow2_get_refcount: the stored refcount, or null when the lookup fails (EIO). */
    private Long lookup(long cluster) {
        try {
            return stored.get(cluster);
        } catch (StoredRefcounts.UnalignedBlock e) {
            signal(e);
            return null;
        } catch (StoredRefcounts.UnreadableBlock e) {
            return null;
        }
    }

    /** qcow2_signal_corruption: printed once per check. */
    private void signal(StoredRefcounts.UnalignedBlock e) {
        if (signaledCorruption) {
            return;
        }
        signaledCorruption = true;
        String reason = "Refblock offset " + Hex.alt(e.blockOffset) + " unaligned (reftable index: "
                + Hex.alt(e.tableIndex) + ")";
        if (fatalSignal != null) {
            fatalSignal.accept(reason);
        } else {
            out.line("qcow2: Image is corrupt: " + reason + "; further non-fatal corruption events will be suppressed");
        }
    }
}
