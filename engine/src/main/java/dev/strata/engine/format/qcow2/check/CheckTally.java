package dev.strata.engine.format.qcow2.check;

import dev.strata.engine.ops.check.CheckReport;

/**
 * The counters of one check run, as qemu's BdrvCheckResult accumulates them (its bfi part
 * included). Mutable; owned by one checking thread.
 */
final class CheckTally {
    long corruptions;
    long leaks;
    long checkErrors;
    long imageEndOffset;
    long totalClusters;
    long allocatedClusters;
    long fragmentedClusters;
    long compressedClusters;

    /** This tally as a report (file name and format are filled in by the caller). */
    CheckReport toReport() {
        return new CheckReport(null, "qcow2", checkErrors, corruptions, leaks, 0, 0, imageEndOffset,
                totalClusters, allocatedClusters, fragmentedClusters, compressedClusters);
    }
}
