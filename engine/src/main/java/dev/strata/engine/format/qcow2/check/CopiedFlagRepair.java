package dev.strata.engine.format.qcow2.check;

/*
 * Design note: qemu's check_oflag_copied with repair. OFLAG_COPIED must be set exactly where the
 * stored refcount is one: on active L1 entries (for their L2 table) and on the NORMAL/ZERO_ALLOC
 * entries of active L2 tables (for their data cluster). When repairing, a wrong L1 entry is
 * rewritten at once (qcow2_write_l1_entry) and an L2 table with wrong entries is rewritten whole
 * after its scan; each repaired entry counts as a fixed corruption, each one left as a corruption.
 * The walk and lookups are those of RefcountComparison.checkCopiedFlags; refcounts are read
 * through a fresh StoredRefcounts, since the refcount repair that runs first changed them.
 * An L2 table is written back only past qemu's overlap check (its own kind, active L2, left
 * out): a table an L1 entry places over other metadata (the header, say) makes qemu mark the
 * image corrupt and fail the check ("ERROR: Could not write L2 table; metadata overlap check
 * failed: Input/output error").
 */

import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2L1Table;
import dev.strata.engine.format.qcow2.Qcow2L2Entry;
import dev.strata.engine.format.qcow2.Qcow2SubclusterType;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.function.Consumer;

/** Checks, and when allowed repairs, OFLAG_COPIED over the active L1 table. */
final class CopiedFlagRepair {
    private final Storage file;
    private final Qcow2Header header;
    private final long fileLength;
    private final StoredRefcounts stored;
    private final RepairTally tally;
    private final CheckListener out;
    private final MetadataOverlap overlap;
    private final Consumer<String> signalCorruption;

    /**
     * @param overlap          the metadata qemu's overlap check protects now
     * @param signalCorruption marks the image corrupt with qemu's reason (once)
     */
    CopiedFlagRepair(Storage file, Qcow2Header header, long fileLength, StoredRefcounts stored, RepairTally tally,
                     CheckListener out, MetadataOverlap overlap, Consumer<String> signalCorruption) {
        this.file = file;
        this.header = header;
        this.fileLength = fileLength;
        this.stored = stored;
        this.tally = tally;
        this.out = out;
        this.overlap = overlap;
        this.signalCorruption = signalCorruption;
    }

    /**
     * Runs the pass.
     *
     * @param repair whether wrong flags are rewritten (qemu: always with -r all; with -r leaks
     *               only when nothing else is left wrong)
     * @throws CheckAbort EIO when an L2 table to rewrite overlaps other metadata
     */
    void run(boolean repair) throws CheckAbort {
        int clusterBits = header.clusterBits();
        boolean extendedL2 = header.extendedL2();
        boolean dataFile = header.hasDataFile();
        int entrySize = extendedL2 ? 16 : 8;
        long[] l1 = Qcow2L1Table.parse(file, header.l1TableOffset(), header.l1Size()).stored();
        ByteBuffer table = ByteBuffer.allocate(header.clusterSize());
        String verb = repair ? "Repairing" : "ERROR";
        for (int i = 0; i < l1.length; i++) {
            long l1Entry = l1[i];
            long l2Offset = l1Entry & Qcow2L2Entry.L1_OFFSET_MASK;
            if (l2Offset == 0) {
                continue;
            }
            Long refcount = lookup(l2Offset >>> clusterBits);
            if (refcount == null) {
                continue;
            }
            if ((refcount == 1) != ((l1Entry & Qcow2L2Entry.OFLAG_COPIED) != 0)) {
                out.line(verb + " OFLAG_COPIED L2 cluster: l1_index=" + i + " l1_entry=" + Long.toHexString(l1Entry)
                        + " refcount=" + Long.toUnsignedString(refcount));
                if (repair) {
                    long fixed = refcount == 1 ? l1Entry | Qcow2L2Entry.OFLAG_COPIED
                            : l1Entry & ~Qcow2L2Entry.OFLAG_COPIED;
                    file.write(ByteBuffer.allocate(8).putLong(0, fixed), header.l1TableOffset() + 8L * i);
                    tally.corruptionsFixed++;
                } else {
                    tally.check.corruptions++;
                }
            }
            if (l2Offset >= fileLength) {
                continue; // reads as zeros: no allocated entries
            }
            table.clear();
            file.read(table, l2Offset);
            int dirty = 0;
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
                    out.line(verb + " OFLAG_COPIED data cluster: l2_entry=" + Long.toHexString(e.entry())
                            + " refcount=" + Long.toUnsignedString(dataRefcount));
                    if (repair) {
                        long fixed = dataRefcount == 1 ? e.entry() | Qcow2L2Entry.OFLAG_COPIED
                                : e.entry() & ~Qcow2L2Entry.OFLAG_COPIED;
                        table.putLong(j * entrySize, fixed);
                        dirty++;
                    } else {
                        tally.check.corruptions++;
                    }
                }
            }
            if (dirty > 0) {
                MetadataOverlap.Kind kind = overlap.overlap(l2Offset, header.clusterSize(), true);
                if (kind != null) {
                    signalCorruption.accept("Preventing invalid write on metadata (overlaps with "
                            + kind.qemuName + ")");
                    out.line("ERROR: Could not write L2 table; metadata overlap check failed: Input/output error");
                    tally.check.checkErrors++;
                    throw CheckAbort.io();
                }
                table.clear();
                file.write(table, l2Offset);
                tally.corruptionsFixed += dirty;
            }
        }
    }

    /** qcow2_get_refcount: the stored refcount, or null when the lookup fails. */
    private Long lookup(long cluster) {
        try {
            return stored.get(cluster);
        } catch (StoredRefcounts.UnalignedBlock | StoredRefcounts.UnreadableBlock e) {
            return null;
        }
    }
}
