package dev.strata.engine.format.qcow2;

import dev.strata.engine.format.Preallocation;

/**
 * A validated request to lay out a new qcow2 image: what qemu's qcow2 create options become
 * after parsing ({@code -o} and {@code -b}/{@code -F}). Validation and qemu's error wording
 * belong to the option parser; {@link Qcow2Creator} trusts these values.
 *
 * @param size            virtual size in bytes (a multiple of 512)
 * @param version         2 ("compat=0.10") or 3 ("compat=1.1")
 * @param clusterSize     cluster size, a power of two in [512, 2 MiB]
 * @param extendedL2      subclusters (requires version 3 and clusterSize >= 16 KiB)
 * @param compressionType "zlib" or "zstd" (zstd requires version 3)
 * @param lazyRefcounts   the lazy_refcounts compatible feature (requires version 3)
 * @param refcountBits    1, 2, 4, 8, 16, 32 or 64 (other than 16 requires version 3)
 * @param preallocation   what to preallocate for the whole virtual size
 * @param backingFile     the backing file name to record as given, or null
 * @param backingFormat   the backing format to record, or null
 * @param dataFile        the external data file name to record (the file already exists), or null
 * @param dataFileRaw     the data_file_raw autoclear bit (requires a data file)
 */
public record Qcow2CreateSpec(long size, int version, int clusterSize, boolean extendedL2, String compressionType,
                              boolean lazyRefcounts, int refcountBits, Preallocation preallocation,
                              String backingFile, String backingFormat, String dataFile, boolean dataFileRaw) {
}
