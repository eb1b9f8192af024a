package dev.strata.engine.format.qcow2;

/*
 * Design note: what qemu 7.2's qcow2_do_open does about the header beyond reading it, for every
 * open that needs it (a qcow2 layer opened by the driver, and the read-write open of qemu-img
 * check -r, which does not go through the driver):
 *
 *  - the stale-bitmaps warning. qcow2_read_extensions meets a bitmaps extension whose autoclear
 *    bit is clear (a program without bitmap support wrote the image, or a downgrade to v2, whose
 *    header has no autoclear field, kept the extension): it warns with warn_report ("PROGRAM:
 *    warning: ...", a v2 and a v3 wording) and then prints a hint with error_printf, which adds
 *    no newline, so whatever qemu prints next continues on the hint's line. The bitmaps are then
 *    ignored (their clusters are leaks to check). Every open of such a file prints it, read-only
 *    or not, backing files and both images of a compare included;
 *  - the header update of a writable open: when that extension was ignored, or the header has
 *    autoclear bits qemu does not know, a writable open rewrites the header at once
 *    (qcow2_update_header), which drops both. qemu skips it when loading the bitmaps already
 *    rewrote the header; that cannot happen here (an ignored extension means no bitmaps to load,
 *    and the in_use marking writes the same normalised header).
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

/** The stale-bitmaps warning and the header update of qcow2_do_open. */
public final class Qcow2OpenHeader {
    private static final String V2_WARNING = "warning: This qcow2 v2 image contains bitmaps, but they may have been"
            + " modified by a program without persistent bitmap support; so now they must all be considered"
            + " inconsistent";
    private static final String V3_WARNING = "warning: a program lacking bitmap support modified this file, so all"
            + " bitmaps are now considered inconsistent";
    private static final String HINT = "Some clusters may be leaked, run 'qemu-img check -r' on the image file to fix.";

    private Qcow2OpenHeader() {
    }

    /** Whether {@code header} has a bitmaps extension that its autoclear bit does not vouch for. */
    public static boolean staleBitmaps(Qcow2Header header) {
        return header.bitmapsExtension() != null && !header.bitmapsConsistent();
    }

    /**
     * Prints qemu's warning about an ignored bitmaps extension to {@code out}, when
     * {@code header} has one: the warning as an error_report message, then the hint without a
     * newline (qemu names itself there as qemu-img, whatever the program).
     *
     * @return whether it printed
     */
    public static boolean warnAboutStaleBitmaps(Qcow2Header header, CheckListener out) {
        if (!staleBitmaps(header)) {
            return false;
        }
        out.error(header.version() < 3 ? V2_WARNING : V3_WARNING);
        out.raw(HINT);
        return true;
    }

    /**
     * Whether a writable open rewrites {@code header}: it has an ignored bitmaps extension or
     * autoclear bits qemu does not know.
     */
    public static boolean updatedOnWritableOpen(Qcow2Header header) {
        return (header.autoclearFeatures() & ~Qcow2FeatureBits.AUTOCLEAR_MASK) != 0 || staleBitmaps(header);
    }

    /**
     * The header update of a writable open: when {@code header} (just read from {@code file})
     * has an ignored bitmaps extension or autoclear bits qemu does not know, the header is
     * rewritten without them.
     *
     * @param checkMode read the new header as qemu-img check's open does (the rewrite itself
     *                  needs a header the strict open accepts)
     * @return the header now on disk ({@code header} itself when nothing was written)
     * @throws StrataException when the header is one only check mode accepts and needs the update
     */
    public static Qcow2Header updateOnWritableOpen(Storage file, Qcow2Header header, boolean checkMode) {
        if (!updatedOnWritableOpen(header)) {
            return header;
        }
        Qcow2HeaderRewrite.load(file).write(file);
        return Qcow2Header.parse(file, checkMode);
    }
}
