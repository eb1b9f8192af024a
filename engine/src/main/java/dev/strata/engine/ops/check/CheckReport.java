package dev.strata.engine.ops.check;

/**
 * The result of a consistency check, format-neutral: QEMU's {@code ImageCheck} (what
 * {@code qemu-img check} prints). Counters qemu leaves out of the JSON when zero are plain zeros
 * here; the renderer decides what to show.
 *
 * @param filename           the image name as the user gave it
 * @param format             the format name ("qcow2")
 * @param checkErrors        internal errors: parts of the image that could not be checked
 * @param corruptions        inconsistencies that may corrupt data
 * @param leaks              clusters whose refcount is higher than their references
 * @param corruptionsFixed   corruptions repaired (always 0 until repair exists)
 * @param leaksFixed         leaks repaired (always 0 until repair exists)
 * @param imageEndOffset     offset after the last cluster in use (0 when unknown)
 * @param totalClusters      clusters of the virtual disk
 * @param allocatedClusters  virtual clusters that are allocated in the active L1 table
 * @param fragmentedClusters allocated clusters not directly after their predecessor on the host
 * @param compressedClusters allocated clusters stored compressed
 */
public record CheckReport(String filename, String format, long checkErrors, long corruptions, long leaks,
                          long corruptionsFixed, long leaksFixed, long imageEndOffset, long totalClusters,
                          long allocatedClusters, long fragmentedClusters, long compressedClusters) {

    /** The same report for another file name and format (the checker does not know them). */
    public CheckReport named(String newFilename, String newFormat) {
        return new CheckReport(newFilename, newFormat, checkErrors, corruptions, leaks, corruptionsFixed,
                leaksFixed, imageEndOffset, totalClusters, allocatedClusters, fragmentedClusters,
                compressedClusters);
    }
}
