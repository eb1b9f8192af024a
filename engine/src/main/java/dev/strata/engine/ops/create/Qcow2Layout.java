package dev.strata.engine.ops.create;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2CreateSpec;

/**
 * Lays out a qcow2 image in a host file that was just created empty. The qcow2 writer
 * (Qcow2Creator) has not landed yet: until it does, qcow2 images are refused after all of
 * qemu's option checks have passed.
 */
final class Qcow2Layout {
    private Qcow2Layout() {
    }

    /** Writes the qcow2 structures of {@code spec} into {@code fileName}. */
    static void create(String fileName, Qcow2CreateSpec spec) {
        throw StrataException.unsupported("Creating qcow2 images is not supported yet");
    }
}
