package dev.strata.engine.format;

import java.util.Set;

/**
 * The block driver names qemu-img 7.2 (Debian build) knows: its "Supported formats" line, format
 * and protocol drivers alike. qemu's {@code bdrv_find_format} accepts any of them, whether
 * strata can open that format or not.
 */
public final class QemuDrivers {
    private static final Set<String> NAMES = Set.of("blkdebug", "blklogwrites", "blkverify", "bochs",
            "cloop", "compress", "copy-before-write", "copy-on-read", "dmg", "file", "ftp", "ftps", "gluster",
            "host_cdrom", "host_device", "http", "https", "iscsi", "iser", "luks", "nbd", "nfs", "null-aio",
            "null-co", "nvme", "parallels", "preallocate", "qcow", "qcow2", "qed", "quorum", "raw", "rbd",
            "replication", "snapshot-access", "ssh", "throttle", "vdi", "vhdx", "vmdk", "vpc", "vvfat");

    private QemuDrivers() {
    }

    /** Whether qemu-img 7.2's {@code bdrv_find_format(name)} finds a driver. */
    public static boolean known(String name) {
        return NAMES.contains(name);
    }
}
