package dev.strata.engine.format;

/**
 * Inconsistent metadata that a format driver found while serving a request (qemu's
 * {@code qcow2_signal_corruption}). The request itself fails with an EIO
 * {@link dev.strata.engine.StrataException}; the event is the extra warning qemu prints once per
 * open image.
 *
 * <p>Drivers here never write, so an event never marks the image corrupt on disk: it is always
 * qemu's "non-fatal" kind, the one qemu reports for images opened read-only.
 *
 * @param formatName the driver's format name ("qcow2"), which qemu puts before its message
 * @param fileName   the image file whose metadata is inconsistent
 * @param reason     what is wrong, in qemu's words ("L2 table offset 0x4200 unaligned (L1 index: 0)")
 */
public record CorruptionEvent(String formatName, String fileName, String reason) {

    /**
     * The line qemu prints on stderr for this event, without a line break and without a program
     * name (qemu writes it with a plain fprintf, not error_report):
     * {@code qcow2: Image is corrupt: REASON; further non-fatal corruption events will be suppressed}.
     */
    public String message() {
        return formatName + ": Image is corrupt: " + reason
                + "; further non-fatal corruption events will be suppressed";
    }
}
