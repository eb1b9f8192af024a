package dev.strata.engine.ops.create;

import dev.strata.engine.format.qcow2.Qcow2CreateSpec;
import dev.strata.engine.format.qcow2.Qcow2Creator;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.LockRequest;

/** Lays out a qcow2 image in a host file that was just created empty. */
final class Qcow2Layout {
    private Qcow2Layout() {
    }

    /** Writes the qcow2 structures of {@code spec} into {@code fileName} through {@link Qcow2Creator}. */
    static void create(String fileName, Qcow2CreateSpec spec) {
        try (FileStorage file = FileStorage.open(fileName, false)) {
            file.lock(LockRequest.imageFile(false, false, false));
            Qcow2Creator.create(file, spec);
        }
    }
}
