package dev.strata.engine.format.qcow;

/*
 * Design note: qcow version 1 ("QFI\xfb", version 1) is a format qemu-img 7.2 opens with its
 * qcow driver; strata-img has no driver for it yet. Claiming it here (with qemu's qcow_probe
 * score) keeps such an image from silently probing as raw; opening it then fails honestly.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.FormatFactory;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;

/** Registry entry for qcow (version 1) images: recognised, not supported. */
public final class QcowFormat implements FormatFactory {
    /** qemu's name of the format. */
    public static final String NAME = "qcow";
    private static final int MAGIC = 0x514649fb; // "QFI\xfb", shared with qcow2

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public boolean supported() {
        return false;
    }

    /** 100 for the qcow magic with version exactly 1 (qemu's qcow_probe), else 0. */
    @Override
    public int probe(byte[] header, String fileName) {
        if (header.length < 8) {
            return 0;
        }
        ByteBuffer buf = ByteBuffer.wrap(header);
        return buf.getInt(0) == MAGIC && buf.getInt(4) == 1 ? 100 : 0;
    }

    /**
     * Always refuses.
     *
     * @throws StrataException ENOTSUP "Driver 'qcow' is not supported by strata-img yet"
     */
    @Override
    public FormatDriver open(Storage file, OpenOptions options) {
        throw new StrataException(ErrorKind.ENOTSUP, "Driver '" + NAME + "' is not supported by strata-img yet");
    }
}
