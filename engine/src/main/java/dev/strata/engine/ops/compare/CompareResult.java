package dev.strata.engine.ops.compare;

import dev.strata.engine.ErrorKind;

/**
 * The outcome of {@link CompareOperation#compare}.
 *
 * @param outcome      what was found
 * @param offset       guest offset of the mismatch (CONTENT_MISMATCH, STATUS_MISMATCH) or of the
 *                     failed read (READ_ERROR); 0 otherwise
 * @param sizeWarning  the images differ in size and the non-strict walk went on to check the
 *                     longer image's tail (qemu prints "Warning: Image size mismatch!" before
 *                     whatever that walk finds)
 * @param fileName     the image a READ_ERROR or STATUS_ERROR concerns, else null
 * @param errorKind    the failure class of a READ_ERROR or STATUS_ERROR, else null
 */
public record CompareResult(Outcome outcome, long offset, boolean sizeWarning, String fileName,
                            ErrorKind errorKind) {

    /** What {@code qemu-img compare} found, with its exit code. */
    public enum Outcome {
        /** "Images are identical." */
        IDENTICAL(0),
        /** "Content mismatch at offset N!" */
        CONTENT_MISMATCH(1),
        /** "Strict mode: Image size mismatch!" */
        SIZE_MISMATCH(1),
        /** "Strict mode: Offset N block status mismatch!" */
        STATUS_MISMATCH(1),
        /** "Sector allocation test failed for NAME" */
        STATUS_ERROR(3),
        /** "Error while reading offset N of NAME: strerror" */
        READ_ERROR(4);

        private final int exitCode;

        Outcome(int exitCode) {
            this.exitCode = exitCode;
        }

        /** qemu-img's exit code for this outcome. */
        public int exitCode() {
            return exitCode;
        }
    }
}
