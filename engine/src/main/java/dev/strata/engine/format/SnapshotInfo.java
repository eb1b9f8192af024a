package dev.strata.engine.format;

/**
 * One internal snapshot as {@code qemu-img info} and {@code snapshot -l} list it.
 *
 * @param id            snapshot id string
 * @param name          snapshot name (tag)
 * @param vmStateSize   size of the saved VM state in bytes
 * @param dateSec       creation time, seconds since the epoch
 * @param dateNsec      nanoseconds part of the creation time
 * @param vmClockNsec   guest clock at the snapshot, in nanoseconds
 * @param icount        instruction count, or -1 when the image does not record one
 */
public record SnapshotInfo(String id, String name, long vmStateSize, long dateSec, long dateNsec,
                           long vmClockNsec, long icount) {
}
