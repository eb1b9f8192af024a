package dev.strata.engine.ops.create;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatRegistry;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.check.CheckListener;

import java.util.List;

/**
 * {@code qemu-img create} as qemu 7.2's {@code bdrv_img_create}, split in two steps so that
 * other operations ({@code convert}, {@code dd}) create their targets the same way:
 * {@link #prepare} parses and checks everything qemu checks before it prints the
 * "Formatting ..." line (options, size, backing file, which it opens to learn the size), and
 * {@link CreatePlan#execute} does what qemu does after it (the format driver's own checks, then
 * the files).
 *
 * <p>Usage: {@code CreatePlan plan = CreateOperation.prepare("qcow2", "out.qcow2", "cluster_size=4k",
 * 1 << 30, null, null, false, listener); print(plan.formattingLine()); plan.execute();}
 */
public final class CreateOperation {
    /** "No size given" (qemu's img_size of UINT64_C(-1)). */
    public static final long NO_SIZE = -1;

    /** Formats qemu 7.2 knows that strata can read or not but cannot create. */
    private static final List<String> QEMU_FORMATS = List.of("blkdebug", "blklogwrites", "blkverify", "bochs",
            "cloop", "compress", "copy-before-write", "copy-on-read", "dmg", "luks", "parallels", "preallocate",
            "qcow", "qed", "quorum", "replication", "snapshot-access", "throttle", "vdi", "vhdx", "vmdk", "vpc",
            "vvfat");

    private CreateOperation() {
    }

    /**
     * The create options of {@code format} (with the host-file protocol's) parsed from an
     * {@code -o} string, as {@code qemu_opts_do_parse} does.
     *
     * @param options the accumulated {@code -o} text, or null for none
     * @throws StrataException "Unknown file format 'X'", "Format driver 'X' does not support
     *         image creation", or an option error in qemu's words
     */
    public static CreateOptions parseOptions(String format, String options) {
        requireCreatable(format);
        CreateOptions opts = new CreateOptions(CreateOptionCatalog.forCreate(format));
        if (options != null) {
            opts.parse(options);
        }
        return opts;
    }

    /**
     * Checks a create request up to the point where qemu prints "Formatting ...".
     *
     * @param format        the image format ({@code -f}; qemu-img's default is "raw")
     * @param fileName      the image file name, as given
     * @param options       the accumulated {@code -o} text, or null
     * @param size          the size argument in bytes, or {@link #NO_SIZE}
     * @param backingFile   {@code -b}, or null
     * @param backingFormat {@code -F}, or null
     * @param unsafe        {@code -u}: do not open the backing file
     * @param diagnostics   where opening the backing file prints what qemu's open prints (the
     *                      stale-bitmaps warning of a qcow2 backing file)
     * @return the plan to print and execute
     * @throws StrataException (or {@link CreateFailure} with qemu's hint) in qemu's words
     */
    public static CreatePlan prepare(String format, String fileName, String options, long size,
                                     String backingFile, String backingFormat, boolean unsafe,
                                     CheckListener diagnostics) {
        CreateOptions opts = parseOptions(format, options);
        if (!opts.isSet("size")) {
            opts.setNumber("size", size);
        } else if (size != NO_SIZE) {
            throw StrataException.invalid("The image size must be specified only once");
        }
        if (backingFile != null) {
            if (!opts.accepts("backing_file")) {
                throw StrataException.invalid("Backing file not supported for file format '" + format + "'");
            }
            opts.set("backing_file", backingFile);
        }
        if (backingFormat != null) {
            if (!opts.accepts("backing_fmt")) {
                throw StrataException.invalid("Backing file format not supported for file format '" + format + "'");
            }
            opts.set("backing_fmt", backingFormat);
        }
        String backing = opts.get("backing_file");
        if (backing != null) {
            if (backing.equals(fileName)) {
                throw StrataException.invalid(
                        "Error: Trying to create an image with the same filename as the backing file");
            }
            if (backing.isEmpty()) {
                throw StrataException.invalid("Expected backing file name, got empty string");
            }
        }
        String backingFmt = opts.get("backing_fmt");
        long imageSize = opts.getNumber("size", NO_SIZE);
        if (backing != null && !unsafe) {
            long backingSize = openBacking(fileName, backing, backingFmt, diagnostics);
            if (imageSize == NO_SIZE) {
                imageSize = backingSize;
                opts.setNumber("size", imageSize);
            }
        } else if (backing != null && backingFmt == null) {
            throw StrataException.invalid("Backing file specified without backing format");
        }
        if (imageSize == NO_SIZE) {
            throw StrataException.invalid("Image creation needs a size parameter");
        }
        return new CreatePlan(format, fileName, opts);
    }

    /** Opens the backing file as qemu does (read-only, shared, no I/O) and returns its size. */
    private static long openBacking(String fileName, String backing, String backingFmt, CheckListener diagnostics) {
        String full;
        if (backing.startsWith("/") || PathNames.hasProtocol(backing)) {
            full = backing;
        } else if (fileName.isEmpty() || fileName.startsWith("json:")) {
            throw StrataException.invalid("Cannot use relative backing file names for '" + fileName + "'");
        } else {
            full = PathNames.combine(fileName, backing);
        }
        OpenOptions options = new OpenOptions(true, true, false).withNoIo(true).withDiagnostics(diagnostics);
        Image image;
        try {
            image = ChainOpener.standard().open(full, backingFmt, options);
        } catch (StrataException e) {
            throw new CreateFailure(e.kind(), e.getMessage(), "Could not open backing image.\n");
        }
        try (image) {
            if (backingFmt == null) {
                throw new CreateFailure(ErrorKind.EINVAL, "Backing file specified without backing format",
                        "Detected format of " + image.layers().get(0).driver().formatName() + ".");
            }
            return image.size();
        }
    }

    private static void requireCreatable(String format) {
        if (CreateOptionCatalog.canCreate(format)) {
            return;
        }
        if (FormatRegistry.standard().byName(format).isPresent() || QEMU_FORMATS.contains(format)) {
            throw StrataException.unsupported("Format driver '" + format + "' does not support image creation");
        }
        throw StrataException.invalid("Unknown file format '" + format + "'");
    }
}
