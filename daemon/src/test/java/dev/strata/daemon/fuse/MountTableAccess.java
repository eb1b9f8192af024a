package dev.strata.daemon.fuse;

import java.nio.file.Path;

/** Test access to {@link MountTable}. */
public final class MountTableAccess {
    private MountTableAccess() {
    }

    public static boolean isMounted(Path p) {
        return MountTable.typeAt(p.toAbsolutePath().normalize()).isPresent();
    }
}
