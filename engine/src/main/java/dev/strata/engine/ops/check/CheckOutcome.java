package dev.strata.engine.ops.check;

import dev.strata.engine.ErrorKind;

/**
 * How a check ended: qemu-img's three paths after the image was opened.
 */
public sealed interface CheckOutcome {

    /**
     * The check ran to the end. qemu-img prints the report; it exits 1 if
     * {@code checkErrors > 0}, else 2 for corruptions, 3 for leaks only, 0 for a clean image.
     */
    record Completed(CheckReport report) implements CheckOutcome {
    }

    /**
     * The check stopped early (qemu's checker returned -errno): nothing is printed on stdout, and
     * qemu-img says "Check failed: REASON" and exits 1.
     *
     * @param kind   the errno class
     * @param reason strerror of that errno, as qemu prints it ("Invalid argument")
     */
    record Aborted(ErrorKind kind, String reason) implements CheckOutcome {
    }

    /**
     * The format has no checker: "This image format does not support checks", exit 63.
     *
     * @param format the format name
     */
    record Unsupported(String format) implements CheckOutcome {
    }

    /** The exit code qemu-img uses for this outcome. */
    default int exitCode() {
        if (this instanceof Unsupported) {
            return 63;
        }
        if (this instanceof Aborted) {
            return 1;
        }
        CheckReport r = ((Completed) this).report();
        if (r.checkErrors() > 0) {
            return 1;
        }
        if (r.corruptions() > 0) {
            return 2;
        }
        return r.leaks() > 0 ? 3 : 0;
    }
}
