package dev.strata.engine.ops.check;

/*
 * Design note: qemu-img check -r on a qcow2 image once CheckOp has opened it as qemu-img check
 * opens it, in qemu 7.2's order: the repair pass (Qcow2Repair); when it fixed something, the
 * notice and a second, plain check of the same open image; the outcome reported (qemu-img prints
 * it before it closes the image); then the close.
 *
 * What qemu's read-write open and close do besides (header update, persistent bitmaps marked
 * in_use and stored again: Qcow2RepairOpen) is applied after the repair pass rather than before
 * it: the file ends the same, and a repair strata refuses (ENOTSUP, "the image was not changed")
 * leaves the file untouched. An image with internal snapshots whose header that open rewrites
 * is refused before anything: qemu 7.2's check-mode open then writes a header without the
 * snapshot table, and its repair frees the snapshots' clusters (Qcow2RepairOpen.losesSnapshots).
 *
 * The close stores no bitmaps
 *  - when the repair marked the image corrupt: qemu drops the driver then (bs->drv = NULL) and
 *    writes nothing more;
 *  - when the check failed or left check errors (with -r leaks, a refcount structure that needs
 *    a rebuild): strata does not allocate clusters from refcounts it knows to be wrong. qemu does,
 *    and its overlap check usually stops the first write over metadata ("Lost persistent
 *    bitmaps during inactivation ..."), while a data cluster with a wrong refcount would be
 *    overwritten; strata says so on stderr and leaves the bitmaps marked in use instead.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2RepairOpen;
import dev.strata.engine.format.qcow2.check.Qcow2Checker;
import dev.strata.engine.format.qcow2.check.Qcow2Repair;
import dev.strata.engine.format.qcow2.check.RepairMode;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.Storage;

/** qemu-img check -r of one qcow2 image, from the repair to the close. */
final class Qcow2RepairRun {
    /** How strata's refusals before any write end (Qcow2Repair's ENOTSUP outcome). */
    private static final String UNCHANGED = "the image was not changed";

    private Qcow2RepairRun() {
    }

    /**
     * Repairs {@code fileName} (opened read-write here) as {@code mode} allows, checks it again
     * when something was fixed, reports the outcome through {@code report} and closes it.
     *
     * @return the outcome, named
     */
    static CheckOutcome run(String fileName, RepairMode mode, CheckListener out, ReportOnce report) {
        try (Storage file = FileStorage.open(fileName, false)) {
            if (Qcow2RepairOpen.losesSnapshots(file)) {
                return report.finish(new CheckOutcome.Aborted(ErrorKind.ENOTSUP, "repairing an image with internal"
                        + " snapshots whose header qemu-img check -r rewrites (qemu-img 7.2 drops the snapshot table"
                        + " then) is not supported by strata-img; " + UNCHANGED));
            }
            boolean corruptBefore = Qcow2Header.parse(file, true).corrupt();
            CheckOutcome first = Qcow2Repair.repair(file, mode, out);
            if (first instanceof CheckOutcome.Aborted a && a.kind() == ErrorKind.ENOTSUP
                    && a.reason().endsWith(UNCHANGED)) {
                return report.finish(first);
            }
            Qcow2RepairOpen image = Qcow2RepairOpen.open(file);
            CheckOutcome outcome = first;
            if (first instanceof CheckOutcome.Completed c
                    && (c.report().leaksFixed() > 0 || c.report().corruptionsFixed() > 0)) {
                report.repaired(c.report());
                outcome = withFixedCounts(Qcow2Checker.check(file, out), c.report());
            }
            CheckOutcome named = report.finish(outcome);
            boolean corruptedNow = !corruptBefore && Qcow2Header.parse(file, true).corrupt();
            if (!corruptedNow) {
                if (refcountsUsable(outcome)) {
                    image.storeBitmaps();
                } else if (image.hasBitmapsToStore()) {
                    out.error("warning: persistent bitmaps not stored: the refcount structure is broken and"
                            + " strata-img allocates no clusters from it; they stay marked in use");
                }
            }
            return named;
        }
    }

    /** Whether the check ended with refcounts that clusters can be allocated from. */
    private static boolean refcountsUsable(CheckOutcome outcome) {
        return outcome instanceof CheckOutcome.Completed c && c.report().checkErrors() == 0;
    }

    /** The second check's outcome carrying the repair pass's fixed counts, as qemu-img reports it. */
    private static CheckOutcome withFixedCounts(CheckOutcome second, CheckReport fixed) {
        if (second instanceof CheckOutcome.Completed c) {
            CheckReport r = c.report();
            return new CheckOutcome.Completed(new CheckReport(r.filename(), r.format(), r.checkErrors(),
                    r.corruptions(), r.leaks(), fixed.corruptionsFixed(), fixed.leaksFixed(), r.imageEndOffset(),
                    r.totalClusters(), r.allocatedClusters(), r.fragmentedClusters(), r.compressedClusters()));
        }
        return second;
    }
}
