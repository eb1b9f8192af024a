package dev.strata.engine.format.qcow2;

/*
 * Design note: an L1 table (the active one or a snapshot's), held in memory as qemu holds the
 * active one. Its size was validated against qemu's 32 MiB limit by the header; on top of that
 * only the part that lies inside the file is read, since bytes past the end of the file read as
 * zeros (unallocated) anyway: a lying l1_size on a tiny file costs nothing.
 */

import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/**
 * An L1 table.
 *
 * @param offset  host offset of the table
 * @param size    number of entries as recorded
 * @param stored  the entries that lie inside the file (entries past it are zero)
 */
public record Qcow2L1Table(long offset, long size, long[] stored) {

    /**
     * Reads the L1 table of {@code size} entries at {@code offset}. The caller validated the
     * size against qemu's limit (see {@link Qcow2Header}).
     */
    public static Qcow2L1Table parse(Storage file, long offset, long size) {
        long inFile = Math.max(0, Math.min(size, (file.size() - offset + 7) / 8));
        long[] entries = new long[(int) inFile];
        final int chunk = 1 << 16;
        for (int done = 0; done < entries.length; done += chunk) {
            int n = Math.min(chunk, entries.length - done);
            ByteBuffer b = HostReads.read(file, offset + (long) done * 8, n * 8);
            b.asLongBuffer().get(entries, done, n);
        }
        return new Qcow2L1Table(offset, size, entries);
    }

    /** The raw entry {@code index} (0 past the stored part). */
    public long entry(long index) {
        return index < stored.length ? stored[(int) index] : 0;
    }

    /** The L2 table offset of entry {@code index} (0 when unallocated). */
    public long l2Offset(long index) {
        return entry(index) & Qcow2L2Entry.L1_OFFSET_MASK;
    }
}
