package dev.strata.engine.ops.commit;

import dev.strata.engine.storage.CacheMode;

import java.util.Objects;

/**
 * What qemu-img commit was asked to do.
 *
 * @param baseName           {@code -b}: the base as named on the command line (resolved as qemu's
 *                           bdrv_find_backing_image does), or null for the immediate backing file
 * @param drop               {@code -d} (implied by {@code -b}): leave the overlay as it is instead
 *                           of emptying it
 * @param cache              {@code -t}: the cache mode of the image and its base
 * @param rateBytesPerSecond {@code -r}: the block job's speed limit, 0 for none
 */
public record CommitSettings(String baseName, boolean drop, CacheMode cache, long rateBytesPerSecond) {
    public CommitSettings {
        Objects.requireNonNull(cache, "cache");
    }
}
