package dev.strata.engine.ops.amend;

/*
 * Design note: qemu-img 7.2's img_amend after its argument parsing, in two steps because the
 * CLI prints the option help between them:
 *
 *  - open(): img_open read-write with the backing chain (a missing backing file fails the open;
 *    a probed raw image warns, as qemu's raw driver does for writable probed opens);
 *  - amend(): formats without amendment are refused; the -o text is parsed against the
 *    format's amend list (an option only create knows gets qemu's hint); then the qcow2 driver's
 *    qcow2_amend_options runs (Qcow2Amender) on the image file, with a size change going
 *    through the normal resize path (ResizeOp: shrinking allowed, no preallocation, the new
 *    range zeroed over a longer backing file), as qemu's blk_truncate.
 *
 * The image opened by open() only validates it as qemu's open does; it is closed before the
 * amender opens the file itself. A qcow2 image with persistent bitmaps is opened read-only
 * instead: a read-write open marks its bitmaps in_use and its close rewrites them, and the
 * amender refuses such images before any write.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.qcow2.Qcow2AmendProgress;
import dev.strata.engine.format.qcow2.Qcow2Amender;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.format.raw.RawProbeWarning;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.create.CreateOptions;
import dev.strata.engine.ops.info.ImageSource;
import dev.strata.engine.ops.resize.ResizeOp;
import dev.strata.engine.ops.resize.ResizeSize;
import dev.strata.engine.storage.CacheMode;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.Storage;

import java.util.function.Consumer;

/** Changes format options of an existing image (qemu-img amend). */
public final class AmendOp implements AutoCloseable {
    private static final String CREATE_ONLY_HINT = "This option is only supported for image creation";

    private final ImageSource source;
    private final CacheMode cache;
    private final Consumer<String> warnings;
    private final String formatName;
    private Image image;

    private AmendOp(ImageSource source, CacheMode cache, Consumer<String> warnings, Image image, String formatName) {
        this.source = source;
        this.cache = cache;
        this.warnings = warnings;
        this.image = image;
        this.formatName = formatName;
    }

    /**
     * Opens {@code source} read-write with its backing chain, as img_open does for amend.
     *
     * @param warnings receives text qemu prints on stderr during the open (probed-raw warning)
     * @throws StrataException with qemu-img's message ("Could not open 'NAME': ...")
     */
    public static AmendOp open(ImageSource source, CacheMode cache, Consumer<String> warnings) {
        Image image;
        try {
            boolean bitmaps = hasPersistentBitmaps(source);
            image = ChainOpener.standard().open(source.fileName(), source.format(),
                    new OpenOptions(bitmaps, false, false).withCache(cache));
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(source.displayName(), e), e);
        }
        Layer top = image.layers().get(0);
        String format = top.driver().formatName();
        if (top.probed() && "raw".equals(format)) {
            warnings.accept(RawProbeWarning.text(source.fileName()));
        }
        return new AmendOp(source, cache, warnings, image, format);
    }

    /** Whether {@code source} opens (read-only) as a qcow2 image with persistent bitmaps. */
    private static boolean hasPersistentBitmaps(ImageSource source) {
        Image peek;
        try {
            peek = ChainOpener.standard().open(source.fileName(), source.format(),
                    new OpenOptions(true, false, true).withNoIo(true));
        } catch (StrataException e) {
            return false; // the read-write open reports it
        }
        try {
            return peek.layers().get(0).driver() instanceof Qcow2Driver q
                    && !q.bitmapDirectory().entries().isEmpty();
        } finally {
            peek.close();
        }
    }

    /** The format of the opened image. */
    public String formatName() {
        return formatName;
    }

    /**
     * Refuses formats without amendment and parses {@code options} against the format's amend
     * list, as img_amend does before it starts the amendment.
     *
     * @throws StrataException with qemu's message, the create-only hint line included
     */
    public Qcow2Amender.Request prepare(String options) {
        if (!"qcow2".equals(formatName)) {
            throw AmendOptionCatalog.notAmendable(formatName);
        }
        return parse(options);
    }

    /**
     * Amends the image as {@code request} says (qcow2_amend_options).
     *
     * @param force  qemu-img's --force (only LUKS keyslot changes use it; strata refuses those)
     * @param status receives qemu's status callback (offset, total work)
     * @throws StrataException with qemu's message, hint lines included
     */
    public void amend(Qcow2Amender.Request request, boolean force, Qcow2AmendProgress.Status status) {
        close();
        Storage file = FileStorage.open(source.fileName(), false);
        try {
            Qcow2Amender.amend(file, request, cache, status, this::resize);
        } finally {
            file.close();
        }
    }

    private void resize(long newSize) {
        ImageSource qcow2 = new ImageSource(source.fileName(), "qcow2", source.displayName());
        ResizeOp.run(qcow2, new ResizeSize(0, newSize), Preallocation.OFF, true, warnings);
    }

    /** qemu_opts_do_parse against the amend list; on failure, the create list decides the hint. */
    static Qcow2Amender.Request parse(String text) {
        CreateOptions opts = new CreateOptions(AmendOptionCatalog.qcow2Options());
        try {
            opts.parse(text);
        } catch (StrataException e) {
            CreateOptions withCreate = new CreateOptions(AmendOptionCatalog.qcow2WithCreateOptions());
            try {
                withCreate.parse(text);
            } catch (StrataException ignored) {
                throw e;
            }
            throw new StrataException(e.kind(), e.getMessage() + "\n" + CREATE_ONLY_HINT, e);
        }
        boolean encryption = false;
        for (String name : new String[] {"encrypt.state", "encrypt.keyslot", "encrypt.old-secret",
                "encrypt.new-secret", "encrypt.iter-time"}) {
            encryption |= opts.isSet(name);
        }
        return new Qcow2Amender.Request(encryption,
                opts.isSet("compat") ? opts.get("compat") : null,
                opts.isSet("size") ? opts.getNumber("size", 0) : null,
                string(opts, "backing_file"),
                string(opts, "backing_fmt"),
                opts.isSet("data_file") ? opts.get("data_file") : null,
                opts.isSet("data_file_raw") ? opts.getBool("data_file_raw", false) : null,
                opts.isSet("lazy_refcounts") ? opts.getBool("lazy_refcounts", false) : null,
                opts.isSet("refcount_bits") ? opts.getNumber("refcount_bits", 16) : null);
    }

    private static Qcow2Amender.Optional string(CreateOptions opts, String name) {
        return opts.isSet(name) ? new Qcow2Amender.Optional(true, opts.get(name)) : Qcow2Amender.Optional.UNSET;
    }

    /** Closes the image opened by {@link #open} (nothing is written by it). */
    @Override
    public void close() {
        if (image != null) {
            Image i = image;
            image = null;
            i.close();
        }
    }
}
