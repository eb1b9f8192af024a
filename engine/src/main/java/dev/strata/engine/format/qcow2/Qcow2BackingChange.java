package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu 7.2's qcow2_change_backing_file, the format half of
 * bdrv_change_backing_file. A backing file is refused for an image whose external data file
 * is raw (the data file alone would no longer describe the guest), and a name over 1023 bytes
 * is refused (it would not fit qemu's in-memory field); both are EINVAL. Otherwise the backing
 * name and format replace the in-memory ones (null for none: no name, no backing format
 * extension) and qcow2_update_header rewrites the first cluster (Qcow2HeaderRewrite), which
 * fails with ENOSPC when the name does not fit behind the header extensions.
 *
 * It works on the image file directly: the caller has closed (flushed) every writer of the
 * image first, so no cached metadata can overwrite the header afterwards.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.charset.StandardCharsets;

/** Changes the backing file recorded in a qcow2 image header (qcow2_change_backing_file). */
public final class Qcow2BackingChange {
    /** qemu keeps backing names in a 1024-byte buffer, terminator included. */
    private static final int MAX_NAME_BYTES = 1023;

    private Qcow2BackingChange() {
    }

    /**
     * Records {@code backingFile} (null: no backing file) with {@code backingFormat} (null: no
     * backing format extension) in the header of the qcow2 image in {@code file}, which must be
     * writable and have no open writer with pending metadata.
     *
     * @throws StrataException EINVAL when the image has a raw external data file and a backing
     *         file is to be set, or the name is longer than 1023 bytes; ENOSPC when the header
     *         cluster cannot hold the name; EIO on host errors
     */
    public static void apply(Storage file, String backingFile, String backingFormat) {
        Qcow2HeaderRewrite state = Qcow2HeaderRewrite.load(file);
        if (backingFile != null && state.hasDataFile()
                && (state.autoclear & Qcow2FeatureBits.AUTOCLEAR_DATA_FILE_RAW) != 0) {
            throw new StrataException(ErrorKind.EINVAL, "Invalid argument");
        }
        if (backingFile != null && backingFile.getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
            throw new StrataException(ErrorKind.EINVAL, "Invalid argument");
        }
        state.backingFile = backingFile;
        state.backingFormat = backingFormat;
        state.write(file);
        file.flush();
    }
}
