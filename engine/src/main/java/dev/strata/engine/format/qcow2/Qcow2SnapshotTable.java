package dev.strata.engine.format.qcow2;

/*
 * Design note: the internal snapshot table, read entry by entry the way qemu's
 * qcow2_read_snapshots does (8-byte aligned variable-length entries: fixed 40 bytes, extra
 * data, id, name). Memory stays bounded by qemu's own limits, checked before anything is
 * kept: at most 65536 entries (checked by the header), extra data at most 1024 bytes per entry,
 * and the whole table at most 64 MiB. Known extra data (64-bit VM state size, disk size,
 * icount) is decoded; the raw extra bytes are kept for tools that rewrite the table.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The snapshot table of a qcow2 image.
 *
 * @param offset  host offset of the table
 * @param entries the entries in table order
 * @param size    the table's length in bytes (from its offset to the end of the last entry)
 */
public record Qcow2SnapshotTable(long offset, List<Entry> entries, long size) {
    /** qemu's limit on the extra data of one entry. */
    public static final int MAX_EXTRA_DATA = 1024;
    /** qemu's limit on the size of the whole table. */
    public static final long MAX_TABLE_SIZE = 1024L * Qcow2Header.MAX_SNAPSHOTS;

    /** Extra data qemu 7.2 knows and always writes: 64-bit VM state size, disk size, icount. */
    public static final int KNOWN_EXTRA_DATA = 24;

    public Qcow2SnapshotTable {
        entries = List.copyOf(entries);
    }

    /**
     * One entry as qcow2_write_snapshots encodes it, without the alignment padding before it:
     * the fixed header (a VM state size that does not fit 32 bits is 0 there, for older
     * readers), the {@link #KNOWN_EXTRA_DATA known extra data}, then {@code unknownExtra} (the
     * stored extra data beyond the known part, kept), the id and the name.
     */
    public static ByteBuffer encodeEntry(long l1Offset, long l1Size, byte[] id, byte[] name, long dateSec,
                                                  long dateNsec, long vmClockNsec, long vmStateSize, long diskSize,
                                                  long icount, byte[] unknownExtra) {
        int header = Qcow2Header.SNAPSHOT_HEADER_SIZE;
        int extra = KNOWN_EXTRA_DATA + unknownExtra.length;
        ByteBuffer e = ByteBuffer.allocate(header + extra + id.length + name.length);
        e.putLong(0, l1Offset);
        e.putInt(8, (int) l1Size);
        e.putShort(12, (short) id.length);
        e.putShort(14, (short) name.length);
        e.putInt(16, (int) dateSec);
        e.putInt(20, (int) dateNsec);
        e.putLong(24, vmClockNsec);
        e.putInt(32, Long.compareUnsigned(vmStateSize, 0xffffffffL) <= 0 ? (int) vmStateSize : 0);
        e.putInt(36, extra);
        e.putLong(header, vmStateSize);
        e.putLong(header + 8, diskSize);
        e.putLong(header + 16, icount);
        e.put(header + KNOWN_EXTRA_DATA, unknownExtra);
        e.put(header + extra, id);
        e.put(header + extra + id.length, name);
        return e;
    }

    /**
     * One snapshot table entry.
     *
     * @param entryOffset   host offset of this entry
     * @param l1TableOffset host offset of the snapshot's L1 table
     * @param l1Size        entries in the snapshot's L1 table
     * @param id            unique id string
     * @param name          name (tag)
     * @param dateSec       creation time, seconds
     * @param dateNsec      creation time, nanoseconds part
     * @param vmClockNsec   guest clock at the snapshot
     * @param vmStateSize   VM state size (the 64-bit extra field when present, else the 32-bit one)
     * @param extraData     the raw extra data (at most {@link #MAX_EXTRA_DATA} bytes)
     * @param diskSize      virtual disk size of the snapshot, or -1 when the extra data lacks it
     *                      (qemu then assumes the current virtual size)
     * @param icount        instruction count, or -1 when the extra data lacks it
     */
    public record Entry(long entryOffset, long l1TableOffset, long l1Size, String id, String name, long dateSec,
                        long dateNsec, long vmClockNsec, long vmStateSize, byte[] extraData, long diskSize,
                        long icount) {
        /** Size of the stored extra data. */
        public int extraDataSize() {
            return extraData.length;
        }
    }

    /** An empty table. */
    public static Qcow2SnapshotTable empty() {
        return new Qcow2SnapshotTable(0, List.of(), 0);
    }

    /**
     * Reads {@code count} entries starting at {@code offset}, as qemu does at open.
     *
     * @throws StrataException EFBIG "Too much extra metadata in snapshot table entry N" or
     *         "Snapshot table is too big", with qemu's wording and its hint as a second line
     */
    public static Qcow2SnapshotTable parse(Storage file, long offset, long count) {
        if (count == 0) {
            return empty();
        }
        List<Entry> out = new ArrayList<>();
        long pos = offset;
        long tableLength = 0;
        for (int i = 0; i < count; i++) {
            tableLength = (tableLength + 7) & ~7L;
            pos = (pos + 7) & ~7L;
            long entryOffset = pos;
            ByteBuffer h = HostReads.read(file, pos, Qcow2Header.SNAPSHOT_HEADER_SIZE);
            pos += Qcow2Header.SNAPSHOT_HEADER_SIZE;
            long l1TableOffset = h.getLong(0);
            long l1Size = HostReads.u32(h, 8);
            int idSize = HostReads.u16(h, 12);
            int nameSize = HostReads.u16(h, 14);
            long dateSec = HostReads.u32(h, 16);
            long dateNsec = HostReads.u32(h, 20);
            long vmClock = h.getLong(24);
            long vmState = HostReads.u32(h, 32);
            long extraSize = HostReads.u32(h, 36);
            if (extraSize > MAX_EXTRA_DATA) {
                // qemu's hint line is part of what qemu-img prints, so it is part of the message.
                throw new StrataException(ErrorKind.EFBIG, "Too much extra metadata in snapshot table entry " + i
                        + "\nYou can force-remove this extra metadata with qemu-img check -r all");
            }
            byte[] extra = HostReads.bytes(file, pos, (int) extraSize);
            pos += extraSize;
            ByteBuffer x = ByteBuffer.wrap(extra);
            if (extraSize >= 8) {
                vmState = x.getLong(0);
            }
            long diskSize = extraSize >= 16 ? x.getLong(8) : -1;
            long icount = extraSize >= 24 ? x.getLong(16) : -1;
            byte[] strings = HostReads.bytes(file, pos, idSize + nameSize);
            pos += idSize + nameSize;
            String id = HostReads.cString(strings, 0, idSize);
            String name = HostReads.cString(strings, idSize, nameSize);
            tableLength += Qcow2Header.SNAPSHOT_HEADER_SIZE + extraSize + idSize + nameSize;
            if (tableLength > MAX_TABLE_SIZE || pos - offset > Integer.MAX_VALUE) {
                throw new StrataException(ErrorKind.EFBIG, "Snapshot table is too big\nYou can force-remove all "
                        + (count - i) + " overhanging snapshots with qemu-img check -r all");
            }
            out.add(new Entry(entryOffset, l1TableOffset, l1Size, id, name, dateSec, dateNsec, vmClock, vmState,
                    extra, diskSize, icount));
        }
        return new Qcow2SnapshotTable(offset, out, pos - offset);
    }
}
