package dev.strata.engine.format.qcow2.check;

import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;

import java.nio.charset.StandardCharsets;

/**
 * One snapshot table entry as qemu's check holds it in memory after reading the table
 * (QCowSnapshot): the id and name as raw bytes up to their first NUL (what qemu's strlen sees
 * when it writes the table again), and the extra data as read, cut to 1024 bytes where the
 * repair discarded the rest.
 *
 * @param entryOffset   host offset where the entry was read
 * @param l1TableOffset host offset of the snapshot's L1 table
 * @param l1Size        entries of the snapshot's L1 table
 * @param id            id bytes up to the first NUL
 * @param name          name bytes up to the first NUL
 * @param dateSec       creation time, seconds
 * @param dateNsec      creation time, nanoseconds part
 * @param vmClockNsec   guest clock at the snapshot
 * @param vmStateSize   the 64-bit VM state size when the extra data has it, else the 32-bit one
 * @param extraData     the extra data kept (its length is qemu's extra_data_size after the repair)
 * @param diskSize      the disk size from the extra data, else the image's size in whole sectors
 * @param icount        the instruction count from the extra data, else -1
 */
record CheckedSnapshot(long entryOffset, long l1TableOffset, long l1Size, byte[] id, byte[] name, long dateSec,
                       long dateNsec, long vmClockNsec, long vmStateSize, byte[] extraData, long diskSize,
                       long icount) {
    /** Extra data every v3 entry needs: the 64-bit VM state size and the disk size. */
    static final int V3_MIN_EXTRA_DATA = 16;

    /** The entry in the form the reference counter and the overlap check read. */
    Qcow2SnapshotTable.Entry toTableEntry() {
        return new Qcow2SnapshotTable.Entry(entryOffset, l1TableOffset, l1Size,
                new String(id, StandardCharsets.UTF_8), new String(name, StandardCharsets.UTF_8), dateSec, dateNsec,
                vmClockNsec, vmStateSize, extraData, extraData.length >= 16 ? diskSize : -1, icount);
    }
}
