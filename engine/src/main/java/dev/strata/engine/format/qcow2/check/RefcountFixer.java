package dev.strata.engine.format.qcow2.check;

/*
 * Design note: qemu's compare_refcounts with a fix mode. Cluster by cluster, the stored refcount
 * is compared with the recount:
 * "Leaked" (stored higher) is repaired with BDRV_FIX_LEAKS, "ERROR" (stored lower) with
 * BDRV_FIX_ERRORS, each printed as "Repairing cluster ..." and set to the recounted value through
 * the write path's update_refcount (Qcow2RefcountEditor; a cluster dropping to zero is punched,
 * QCOW2_DISCARD_ALWAYS). A stored refcount of 0 is never repaired here: it means the structure
 * needs a rebuild. A refcount that cannot be read is a check error, as in the plain comparison.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2RefcountEditor;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

/** One fixing pass of compare_refcounts. */
final class RefcountFixer {
    private final Storage file;
    private final Qcow2Header header;
    private final CheckListener out;
    private boolean rebuild;

    /**
     * @param header the header as it is now (after a rebuild, the new one)
     */
    RefcountFixer(Storage file, Qcow2Header header, CheckListener out) {
        this.file = file;
        this.header = header;
        this.out = out;
    }

    /** Whether a referenced cluster had stored refcount 0. */
    boolean needsRebuild() {
        return rebuild;
    }

    /**
     * Runs the pass, counting into {@code tally} (its check counters and its fixed counters).
     *
     * @return the highest cluster index with a stored or recounted refcount (0 if none)
     */
    long run(ComputedRefcounts refs, boolean fixLeaks, boolean fixErrors, RepairTally tally) {
        Qcow2RefcountEditor editor = new Qcow2RefcountEditor(file, header);
        // One cached view suffices: a fix changes only the entry of the cluster just compared.
        StoredRefcounts stored = new StoredRefcounts(file, header.clusterBits(), (int) header.refcountOrder(),
                header.refcountTableOffset(), (int) (header.refcountTableClusters() << header.clusterBits() >>> 3));
        long highest = 0;
        for (long i = 0; i < refs.size(); i++) {
            long refcount1;
            try {
                refcount1 = stored.get(i);
            } catch (StoredRefcounts.UnalignedBlock | StoredRefcounts.UnreadableBlock e) {
                out.line("Can't get refcount for cluster " + i + ": Input/output error");
                tally.check.checkErrors++;
                continue;
            }
            long refcount2 = refs.get(i);
            if (refcount1 != 0 || refcount2 != 0) {
                highest = i;
            }
            if (refcount1 == refcount2) {
                continue;
            }
            boolean tooLow = Long.compareUnsigned(refcount1, refcount2) < 0;
            boolean fix = false;
            if (refcount1 == 0) {
                rebuild = true;
            } else {
                fix = tooLow ? fixErrors : fixLeaks;
            }
            out.line((fix ? "Repairing" : tooLow ? "ERROR" : "Leaked") + " cluster " + i + " refcount="
                    + Long.toUnsignedString(refcount1) + " reference=" + Long.toUnsignedString(refcount2));
            if (fix) {
                try {
                    editor.add(i, refcount2 - refcount1);
                    if (tooLow) {
                        tally.corruptionsFixed++;
                    } else {
                        tally.leaksFixed++;
                    }
                    continue;
                } catch (StrataException e) {
                    // counted below, as qemu counts a failed update_refcount
                }
            }
            if (tooLow) {
                tally.check.corruptions++;
            } else {
                tally.check.leaks++;
            }
        }
        return highest;
    }
}
