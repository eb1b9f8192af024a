package dev.strata.engine.format.qcow2.check;

/*
 * Design note: qemu 7.2's qcow2_do_read_snapshots, the way qemu-img check reads the snapshot
 * table, with and without repair (BDRV_FIX_ERRORS). Entries are 8-byte aligned: a 40-byte
 * header, the extra data, the id, the name. Reads past the end of the file return zeros, as
 * qemu's file driver does, so a count larger than the table reads zero entries.
 *
 * Without repair, extra data over 1024 bytes or a table over 64 MiB (or whose entries reach more
 * than INT_MAX bytes past its start) fail with qemu's message and hint (EFBIG). With repair:
 *  - extra data over 1024 bytes is cut to 1024 ("Discarding too much extra metadata ..."): the
 *    entry keeps its first 1024 bytes, and its id and name are read after the original extra
 *    data;
 *  - a table that grows too big drops the entry where that happens and every later one
 *    ("Discarding N overhanging snapshots (snapshot table is too big)"); the table then ends
 *    where the previous entry ended.
 * The table's size is where the last kept entry ends (with the original extra data), which is
 * what the refcount check counts and what the repair frees.
 *
 * Memory: at most 65536 entries (the caller validated the count) of at most 1024 bytes of extra
 * data; ids and names are 64 KiB at most each. Reads go through a 64 KiB window, so a large
 * table is read in few calls.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** The snapshot table as qemu-img check reads it. */
final class SnapshotTableScan {
    /** Known extra data (vm_state_size_large, disk_size, icount): QCowSnapshotExtraData. */
    static final int KNOWN_EXTRA_DATA = Qcow2SnapshotTable.KNOWN_EXTRA_DATA;
    private static final int WINDOW = 64 * 1024;
    private static final int HEADER = Qcow2Header.SNAPSHOT_HEADER_SIZE;

    /**
     * What was read.
     *
     * @param snapshots       the entries kept, in table order
     * @param size            bytes from the table's offset to the end of the last kept entry
     * @param reducedBy       entries dropped off the end because the table was too big
     * @param extraDataCut    entries whose extra data was cut to 1024 bytes
     */
    record Result(List<CheckedSnapshot> snapshots, long size, long reducedBy, int extraDataCut) {
    }

    private final Storage file;
    private final byte[] window = new byte[WINDOW];
    private long windowStart = -1;
    private int windowLength;

    private SnapshotTableScan(Storage file) {
        this.file = file;
    }

    /**
     * Reads {@code count} entries from {@code offset}.
     *
     * @param sectorSize the image's virtual size in whole 512-byte sectors, in bytes (qemu's
     *                   disk size for entries whose extra data lacks one)
     * @param repair     qemu's BDRV_FIX_ERRORS: cut what is too big instead of failing
     * @param out        receives the repair's "Discarding ..." lines
     * @throws StrataException EFBIG with qemu's message and hint after a newline ("Too much extra
     *         metadata ...", "Snapshot table is too big"), EIO "Failed to read snapshot table:
     *         Input/output error" for a read qemu's block layer refuses
     */
    static Result read(Storage file, long offset, long count, long sectorSize, boolean repair, CheckListener out) {
        return new SnapshotTableScan(file).scan(offset, count, sectorSize, repair, out);
    }

    private Result scan(long tableOffset, long count, long sectorSize, boolean repair, CheckListener out) {
        List<CheckedSnapshot> kept = new ArrayList<>();
        long offset = tableOffset;
        long tableLength = 0;
        long reducedBy = 0;
        int extraDataCut = 0;
        for (long i = 0; i < count; i++) {
            long entryEnd = offset;
            tableLength = align8(tableLength);
            offset = align8(offset);
            long entryOffset = offset;
            ByteBuffer h = ByteBuffer.wrap(bytes(offset, HEADER));
            offset += HEADER;
            long extraSize = Integer.toUnsignedLong(h.getInt(36));
            int idSize = Short.toUnsignedInt(h.getShort(12));
            int nameSize = Short.toUnsignedInt(h.getShort(14));
            long kept32 = extraSize;
            if (extraSize > Qcow2SnapshotTable.MAX_EXTRA_DATA) {
                if (!repair) {
                    throw new StrataException(ErrorKind.EFBIG, "Too much extra metadata in snapshot table entry " + i
                            + "\nYou can force-remove this extra metadata with qemu-img check -r all");
                }
                out.line("Discarding too much extra metadata in snapshot table entry " + i + " (" + extraSize + " > "
                        + Qcow2SnapshotTable.MAX_EXTRA_DATA + ")");
                extraDataCut++;
                kept32 = Qcow2SnapshotTable.MAX_EXTRA_DATA;
            }
            int known = (int) Math.min(KNOWN_EXTRA_DATA, extraSize);
            byte[] extra = Arrays.copyOf(bytes(offset, known), (int) kept32);
            offset += known;
            if (extraSize > KNOWN_EXTRA_DATA) {
                long extraEnd = offset + extraSize - KNOWN_EXTRA_DATA;
                byte[] unknown = bytes(offset, (int) kept32 - KNOWN_EXTRA_DATA);
                System.arraycopy(unknown, 0, extra, KNOWN_EXTRA_DATA, unknown.length);
                offset = extraEnd;
            }
            byte[] id = cString(bytes(offset, idSize));
            offset += idSize;
            byte[] name = cString(bytes(offset, nameSize));
            offset += nameSize;

            tableLength += HEADER + kept32 + idSize + nameSize;
            if (tableLength > Qcow2SnapshotTable.MAX_TABLE_SIZE || offset - tableOffset > Integer.MAX_VALUE) {
                if (!repair) {
                    throw new StrataException(ErrorKind.EFBIG, "Snapshot table is too big\nYou can force-remove all "
                            + (count - i) + " overhanging snapshots with qemu-img check -r all");
                }
                out.line("Discarding " + (count - i) + " overhanging snapshots (snapshot table is too big)");
                reducedBy += count - i;
                offset = entryEnd;
                break;
            }
            ByteBuffer x = ByteBuffer.wrap(extra);
            long vmState = extra.length >= 8 ? x.getLong(0) : Integer.toUnsignedLong(h.getInt(32));
            long diskSize = extra.length >= 16 ? x.getLong(8) : sectorSize;
            long icount = extra.length >= KNOWN_EXTRA_DATA ? x.getLong(16) : -1;
            kept.add(new CheckedSnapshot(entryOffset, h.getLong(0), Integer.toUnsignedLong(h.getInt(8)), id, name,
                    Integer.toUnsignedLong(h.getInt(16)), Integer.toUnsignedLong(h.getInt(20)), h.getLong(24), vmState,
                    extra, diskSize, icount));
        }
        return new Result(kept, offset - tableOffset, reducedBy, extraDataCut);
    }

    /** {@code length} bytes at {@code offset}, zeros past the end of the file. */
    private byte[] bytes(long offset, int length) {
        if (!HostLimits.readable(offset, length)) {
            throw new StrataException(ErrorKind.EIO, "Failed to read snapshot table: Input/output error");
        }
        byte[] b = new byte[length];
        if (length == 0) {
            return b;
        }
        if (length > WINDOW) {
            file.read(ByteBuffer.wrap(b), offset);
            return b;
        }
        if (windowStart < 0 || offset < windowStart || offset + length > windowStart + windowLength) {
            windowStart = offset;
            windowLength = (int) Math.min(WINDOW, HostLimits.MAX_LENGTH - offset);
            Arrays.fill(window, (byte) 0);
            file.read(ByteBuffer.wrap(window, 0, windowLength), offset);
        }
        System.arraycopy(window, (int) (offset - windowStart), b, 0, length);
        return b;
    }

    /** The bytes up to the first NUL (what strlen sees of qemu's NUL-terminated copy). */
    private static byte[] cString(byte[] raw) {
        int end = 0;
        while (end < raw.length && raw[end] != 0) {
            end++;
        }
        return end == raw.length ? raw : Arrays.copyOf(raw, end);
    }

    private static long align8(long value) {
        return (value + 7) & ~7L;
    }
}
