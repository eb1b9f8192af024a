package dev.strata.engine.format.qcow2.check;

import dev.strata.engine.ops.check.CheckReport;

/** The counters of a repair run: the check's own, plus what was fixed (BdrvCheckResult's *_fixed). */
final class RepairTally {
    /** The check counters; replaced when qemu restores an earlier state of them. */
    CheckTally check = new CheckTally();
    long leaksFixed;
    long corruptionsFixed;

    /** A copy of the check counters (qemu saves BdrvCheckResult by value). */
    CheckTally snapshot() {
        CheckTally t = new CheckTally();
        t.corruptions = check.corruptions;
        t.leaks = check.leaks;
        t.checkErrors = check.checkErrors;
        t.imageEndOffset = check.imageEndOffset;
        t.totalClusters = check.totalClusters;
        t.allocatedClusters = check.allocatedClusters;
        t.fragmentedClusters = check.fragmentedClusters;
        t.compressedClusters = check.compressedClusters;
        return t;
    }

    /** This tally as a report (file name and format are filled in by the caller). */
    CheckReport toReport() {
        CheckTally t = check;
        return new CheckReport(null, "qcow2", t.checkErrors, t.corruptions, t.leaks, corruptionsFixed, leaksFixed,
                t.imageEndOffset, t.totalClusters, t.allocatedClusters, t.fragmentedClusters, t.compressedClusters);
    }
}
