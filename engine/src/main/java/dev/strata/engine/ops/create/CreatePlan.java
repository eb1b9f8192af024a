package dev.strata.engine.ops.create;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.qcow2.Qcow2CreateSpec;

/**
 * A create request that passed qemu's generic checks ({@link CreateOperation#prepare}): what
 * qemu prints, then what its format driver does.
 */
public final class CreatePlan {
    private final String format;
    private final String fileName;
    private final CreateOptions options;

    CreatePlan(String format, String fileName, CreateOptions options) {
        this.format = format;
        this.fileName = fileName;
        this.options = options;
    }

    /** The image format. */
    public String format() {
        return format;
    }

    /** The image file name, as given. */
    public String fileName() {
        return fileName;
    }

    /** The virtual size in bytes as requested (before any rounding by the format). */
    public long size() {
        return options.getNumber("size", CreateOperation.NO_SIZE);
    }

    /** The parsed create options (format's and protocol's). */
    public CreateOptions options() {
        return options;
    }

    /**
     * qemu's "Formatting 'NAME', fmt=FMT opt=value ..." line, without the newline
     * ({@code qemu-img create} prints it unless {@code -q}).
     */
    public String formattingLine() {
        return "Formatting '" + fileName + "', fmt=" + format + " " + options.printed();
    }

    /**
     * Creates the image: the format driver's checks, then the host file (created or emptied),
     * then the format's layout. When a qcow2 create fails after its files were made, they are
     * removed, as qemu removes them.
     *
     * @throws StrataException in qemu's words; a size the format or the host cannot hold is
     *         "The image size is too large for file format 'FMT'" (qcow2 adds
     *         " (try using a larger cluster size)")
     */
    public void execute() {
        try {
            if (format.equals("raw")) {
                Preallocation prealloc = options.preallocation();
                HostFileCreator.create(fileName, options, size(), prealloc);
            } else {
                createQcow2();
            }
        } catch (StrataException e) {
            if (e.kind() == ErrorKind.EFBIG) {
                String hint = format.equals("qcow2") ? " (try using a larger cluster size)" : "";
                throw new StrataException(ErrorKind.EFBIG,
                        "The image size is too large for file format '" + format + "'" + hint, e);
            }
            throw e;
        }
    }

    private void createQcow2() {
        Qcow2CreateRequest.checkBeforeFiles(options);
        HostFileCreator.create(fileName, options, 0, Preallocation.OFF);
        String dataFile = options.isSet("data_file") ? options.get("data_file") : null;
        boolean dataFileMade = false;
        try {
            if (dataFile != null) {
                HostFileCreator.create(dataFile, options, 0, Preallocation.OFF);
                dataFileMade = true;
            }
            Qcow2CreateSpec spec = Qcow2CreateRequest.spec(options, true);
            Qcow2Layout.create(fileName, spec);
        } catch (RuntimeException e) {
            HostFileCreator.deleteQuietly(fileName);
            if (dataFileMade) {
                HostFileCreator.deleteQuietly(dataFile);
            }
            throw e;
        }
    }
}
