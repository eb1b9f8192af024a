package dev.strata.engine.ops.convert;

import dev.strata.engine.ErrorKind;

/**
 * Told what a salvaging convert (qemu-img's --salvage) could not read and replaced: qemu-img
 * warns once per 512-byte sector. Offsets count from the start of the source that failed, as
 * qemu's do. Calls arrive in the order qemu-img prints its warnings.
 */
public interface SalvageReport {
    /** Reports nothing. */
    SalvageReport NONE = new SalvageReport() {
        @Override
        public void blockStatusFailed(long offset, ErrorKind kind) {
        }

        @Override
        public void readFailed(long offset, ErrorKind kind) {
        }
    };

    /** The block status of the sector at {@code offset} failed: it is read as data. */
    void blockStatusFailed(long offset, ErrorKind kind);

    /** The sector at {@code offset} could not be read: it is copied as zeros. */
    void readFailed(long offset, ErrorKind kind);
}
