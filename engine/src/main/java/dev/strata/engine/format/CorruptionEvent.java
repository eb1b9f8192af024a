package dev.strata.engine.format;

/**
 * Inconsistent metadata that a format driver found while serving a request (qemu's
 * {@code qcow2_signal_corruption}). The request itself fails with an EIO
 * {@link dev.strata.engine.StrataException}; the event is the extra warning qemu prints once per
 * open image.
 *
 * <p>qemu's two kinds: a <em>non-fatal</em> event (the image is read-only, nothing is marked)
 * and a <em>fatal</em> one, found while writing, after which the driver sets the image's corrupt
 * bit on disk and refuses further requests.
 *
 * @param formatName the driver's format name ("qcow2"), which qemu puts before its message
 * @param fileName   the image file whose metadata is inconsistent
 * @param reason     what is wrong, in qemu's words ("L2 table offset 0x4200 unaligned (L1 index: 0)")
 * @param fatal      true when the image is being marked corrupt
 */
public record CorruptionEvent(String formatName, String fileName, String reason, boolean fatal) {

    /** A non-fatal event (read-only image). */
    public CorruptionEvent(String formatName, String fileName, String reason) {
        this(formatName, fileName, reason, false);
    }

    /**
     * The line qemu prints on stderr for this event, without a line break and without a program
     * name (qemu writes it with a plain fprintf, not error_report):
     * {@code qcow2: Image is corrupt: REASON; further non-fatal corruption events will be suppressed}
     * or, fatal, {@code qcow2: Marking image as corrupt: REASON; further corruption events will be
     * suppressed}.
     */
    public String message() {
        if (fatal) {
            return formatName + ": Marking image as corrupt: " + reason
                    + "; further corruption events will be suppressed";
        }
        return formatName + ": Image is corrupt: " + reason
                + "; further non-fatal corruption events will be suppressed";
    }
}
