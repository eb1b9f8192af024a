package dev.strata.it;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Twins that each got an internal snapshot at a different moment differ only in the snapshot
 * table's date fields (date_sec, date_nsec: bytes 16-23 of an entry). This reads a qcow2 file
 * with those fields zeroed, so that the rest can be compared byte for byte.
 */
final class SnapshotTableDates {
    private static final int QCOW2_MAGIC = 0x514649fb;
    /** Fixed part of a snapshot table entry (before extra data, id and name). */
    private static final int ENTRY_FIXED = 40;

    private SnapshotTableDates() {
    }

    /** The bytes of {@code file}, the dates of its snapshot table entries zeroed (other files as they are). */
    static byte[] withoutDates(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(bytes);
        if (bytes.length < 72 || b.getInt(0) != QCOW2_MAGIC) {
            return bytes;
        }
        long entries = Integer.toUnsignedLong(b.getInt(60));
        long at = b.getLong(64);
        for (long i = 0; i < entries; i++) {
            at = (at + 7) & ~7L; // entries are 8-byte aligned
            if (at < 0 || at + ENTRY_FIXED > bytes.length) {
                break;
            }
            int entry = (int) at;
            Arrays.fill(bytes, entry + 16, entry + 24, (byte) 0);
            at += ENTRY_FIXED + Integer.toUnsignedLong(b.getInt(entry + 36)) + Short.toUnsignedInt(b.getShort(entry + 12))
                    + Short.toUnsignedInt(b.getShort(entry + 14));
        }
        return bytes;
    }
}
