package dev.strata.engine.ops.amend;

/*
 * Design note: qemu-img 7.2's img_amend after its argument parsing, in two steps because the
 * CLI prints the option help between them:
 *
 *  - open(): img_open read-write with the backing chain (a missing backing file fails the open;
 *    a probed raw image warns, as qemu's raw driver does for writable probed opens). A qcow2
 *    image's persistent bitmaps are loaded and marked in_use on disk, as qemu's open does;
 *  - amend(): formats without amendment are refused; the -o text is parsed against the
 *    format's amend list (an option only create knows gets qemu's hint); then the qcow2 driver's
 *    qcow2_amend_options runs (Qcow2Amender) on the image file while the image stays open with
 *    its writer flushed and idle;
 *  - close(): closing the image stores its persistent bitmaps (qcow2_store_persistent_dirty_bitmaps),
 *    after everything the amend did, as qemu's close does, also when the amend failed.
 *
 * qemu keeps one free_cluster_index per open image; here it is an AtomicLong that the amend's
 * steps (refcount width change, resize, zero expansion) and the bitmaps' store continue in turn.
 *
 * A size change goes through the image's writer, as qemu's blk_truncate (shrinking allowed, no
 * preallocation, the new range zeroed over a longer backing file without marking bitmaps). The
 * steps before it edited the file behind the open image's writer, so the image is opened again
 * for it: the bitmaps in memory are carried over from the first open to the second
 * (Qcow2Bitmaps.carryOver/takeOver), which stores them when it closes.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.qcow2.Qcow2AmendProgress;
import dev.strata.engine.format.qcow2.Qcow2Amender;
import dev.strata.engine.format.qcow2.Qcow2Bitmaps;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.format.raw.RawProbeWarning;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.ImageChain;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.create.CreateOptions;
import dev.strata.engine.ops.info.ImageSource;
import dev.strata.engine.ops.resize.ResizeOp;
import dev.strata.engine.storage.CacheMode;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.Storage;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/** Changes format options of an existing image (qemu-img amend). */
public final class AmendOp implements AutoCloseable {
    private static final String CREATE_ONLY_HINT = "This option is only supported for image creation";

    private final ImageSource source;
    private final CacheMode cache;
    private final String formatName;
    private Image image;

    private AmendOp(ImageSource source, CacheMode cache, Image image, String formatName) {
        this.source = source;
        this.cache = cache;
        this.image = image;
        this.formatName = formatName;
    }

    /**
     * Opens {@code source} read-write with its backing chain, as img_open does for amend.
     *
     * @param warnings    receives text qemu prints on stderr during the open (probed-raw warning)
     * @param diagnostics what the image's opens print on stderr (the repair of a dirty
     *                    qcow2 image, the stale-bitmaps warning), see {@link OpenOptions#diagnostics()}
     * @throws StrataException with qemu-img's message ("Could not open 'NAME': ...")
     */
    public static AmendOp open(ImageSource source, CacheMode cache, Consumer<String> warnings,
                               CheckListener diagnostics) {
        Image image;
        try {
            image = openImage(source, cache, diagnostics);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(source.displayName(), e), e);
        }
        Layer top = image.layers().get(0);
        String format = top.driver().formatName();
        if (top.probed() && "raw".equals(format)) {
            warnings.accept(RawProbeWarning.text(source.fileName()));
        }
        return new AmendOp(source, cache, image, format);
    }

    private static Image openImage(ImageSource source, CacheMode cache, CheckListener diagnostics) {
        return ChainOpener.standard().open(source.fileName(), source.format(),
                new OpenOptions(false, false, false).withCache(cache).withDiagnostics(diagnostics));
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
     * Amends the image as {@code request} says (qcow2_amend_options); the image stays open until
     * {@link #close}, which stores its persistent bitmaps.
     *
     * @param force  qemu-img's --force (only LUKS keyslot changes use it; strata refuses those)
     * @param status receives qemu's status callback (offset, total work)
     * @throws StrataException with qemu's message, hint lines included
     */
    public void amend(Qcow2Amender.Request request, boolean force, Qcow2AmendProgress.Status status) {
        image.flush();
        Qcow2Bitmaps bitmaps = bitmaps();
        AtomicLong freeClusterIndex = new AtomicLong(bitmaps.freeClusterIndex());
        bitmaps.shareFreeClusterSearch(freeClusterIndex::get, freeClusterIndex::set);
        Storage file = FileStorage.open(source.fileName(), false);
        try {
            Qcow2Amender.amend(file, request, cache, status, size -> resize(size, freeClusterIndex),
                    freeClusterIndex);
        } finally {
            file.close();
        }
    }

    /** The persistent bitmaps of the open qcow2 image. */
    private Qcow2Bitmaps bitmaps() {
        return ((Qcow2Driver) image.layers().get(0).driver()).persistentBitmaps();
    }

    /**
     * The size step: the image is opened again (the amend edited the file behind the first
     * open's writer), takes over the first open's bitmaps and resizes through its writer, whose
     * allocations continue {@code freeClusterIndex}.
     */
    private void resize(long newSize, AtomicLong freeClusterIndex) {
        Qcow2Bitmaps.Carried carried = bitmaps().carryOver();
        close();
        // qemu truncates the image it has open; what that open printed is not printed again
        image = openImage(new ImageSource(source.fileName(), "qcow2", source.displayName()), cache,
                CheckListener.ignoring());
        Qcow2Bitmaps bitmaps = bitmaps();
        bitmaps.takeOver(carried);
        bitmaps.continueFreeClusterSearchAt(freeClusterIndex.get());
        try {
            resizeTop(newSize);
        } finally {
            freeClusterIndex.set(bitmaps.freeClusterIndex());
            bitmaps.shareFreeClusterSearch(freeClusterIndex::get, freeClusterIndex::set);
        }
    }

    /**
     * blk_truncate of the top layer: the writer's resize, then, when the image grows over a
     * backing file longer than its old size, the new range zeroed inside the driver (no bitmap
     * marked; the backing bytes a partial cluster keeps are copied, zeros past its end).
     */
    private void resizeTop(long newSize) {
        List<Layer> layers = image.layers();
        Image below = layers.size() > 1 ? new ImageChain(layers.subList(1, layers.size())) : null;
        ResizeOp.truncate(layers.get(0).driver(), below, newSize, Preallocation.OFF);
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

    /** Closes the image opened by {@link #open}, which stores its persistent bitmaps. */
    @Override
    public void close() {
        if (image != null) {
            Image i = image;
            image = null;
            i.close();
        }
    }
}
