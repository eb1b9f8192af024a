package dev.strata.engine.format.qcow2;

/*
 * Design note: the registry entry for qcow2. The probe is qemu's qcow2_probe: the magic and a
 * version of at least 2 score 100 (a version-4 image is claimed and then refused with
 * "Unsupported qcow2 version 4", exactly as qemu-img does; version 1 is qcow, see QcowFormat).
 */

import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.FormatFactory;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/** Registry entry for qcow2 images. */
public final class Qcow2Format implements FormatFactory {
    /** qemu's name of the format. */
    public static final String NAME = "qcow2";

    @Override
    public String name() {
        return NAME;
    }

    /**
     * 100 when the first bytes carry the qcow2 magic and a version of at least 2, else 0. Bytes
     * missing from a short file count as zeros, as in qemu's zero-padded probe buffer.
     */
    @Override
    public int probe(byte[] header, String fileName) {
        byte[] b = new byte[8];
        System.arraycopy(header, 0, b, 0, Math.min(8, header.length));
        ByteBuffer buf = ByteBuffer.wrap(b);
        if (buf.getInt(0) != Qcow2Header.MAGIC) {
            return 0;
        }
        return (buf.getInt(4) & 0xffffffffL) >= 2 ? 100 : 0;
    }

    /**
     * Opens a qcow2 layer (read-only mapping; see {@link Qcow2Driver}).
     *
     * @throws dev.strata.engine.StrataException with qemu's message for an invalid image
     */
    @Override
    public FormatDriver open(Storage file, OpenOptions options) {
        return Qcow2Driver.open(file, options);
    }
}
