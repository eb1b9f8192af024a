package dev.strata.engine.ops.rebase;

/*
 * Design note: qemu-img 7.2's img_rebase after its argument parsing, in qemu's order:
 *
 *  - the image is opened read-write; in safe mode its backing chain too (read-only; a missing
 *    backing file fails the open with qemu's "Could not open backing file: ..."), in unsafe mode
 *    without it (the point of -u is to fix a reference to a moved backing file). A probed raw
 *    image warns, as qemu's raw driver does for writable probed opens;
 *  - -F must name a driver qemu knows ("Invalid format name");
 *  - safe mode with a new backing file: its name is resolved against the image's directory
 *    (path_combine) while the name recorded stays as given. When the resolved file is a layer
 *    of the image's own chain (bdrv_find_backing_image: canonical paths compared, each layer's
 *    reference resolved against that layer) that layer is reused and only what the layers
 *    above it hold is compared; otherwise the file is opened read-only with its own chain
 *    ("Could not open new backing file 'NAME': ...");
 *  - safe mode copies into the image what the two backing chains show differently
 *    (BackingDiffCopy), through the image's LayerWriter;
 *  - bdrv_change_backing_file: with a new name a format is required (qemu-img 7.2 does not
 *    probe one: without -F the data is copied and then the change fails with "backing format
 *    must be specified"), an empty or absent name drops the backing file and its format; qcow2
 *    rewrites its header (Qcow2BackingChange) once the writer is closed, every other format
 *    refuses with ENOTSUP. A failed change keeps what was copied, as in qemu.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.LayerDescription;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.format.QemuDrivers;
import dev.strata.engine.format.qcow2.Qcow2BackingChange;
import dev.strata.engine.format.raw.RawProbeWarning;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.ImageChain;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.info.ImageSource;
import dev.strata.engine.storage.CacheMode;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.Storage;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Changes the backing file of an image (qemu-img rebase), safe or unsafe. */
public final class RebaseOp {
    private RebaseOp() {
    }

    /**
     * What to rebase and how.
     *
     * @param image         the image to change
     * @param unsafe        qemu-img's -u: change the header only
     * @param backingFile   -b as given (recorded as is), "" to drop the backing file, or null
     *                      when not given (unsafe mode only: the backing file is dropped)
     * @param backingFormat -F, or null
     * @param cache         -t: cache mode of the image
     * @param sourceCache   -T: cache mode of the new backing file
     * @param forceShare    -U: open the new backing file without locking
     */
    public record Request(ImageSource image, boolean unsafe, String backingFile, String backingFormat,
                          CacheMode cache, CacheMode sourceCache, boolean forceShare) {
    }

    /** What the rebase reports while it runs. */
    public interface Listener {
        /** Text qemu prints on stderr as is (the probed-raw warning; newline-terminated lines). */
        void warning(String text);

        /** One step of qemu's progress: {@code percent} more of the image was compared. */
        void progress(float percent);
    }

    /** The backing file could not be recorded; whatever safe mode copied stays in the image. */
    public static final class BackingChangeFailed extends StrataException {
        BackingChangeFailed(ErrorKind kind, String message, Throwable cause) {
            super(kind, message, cause);
        }
    }

    /**
     * Rebases as qemu-img rebase does.
     *
     * @param diagnostics what the image's opens print on stderr (the repair of a dirty
     *                    qcow2 image, the stale-bitmaps warning), see {@link OpenOptions#diagnostics()}
     * @throws BackingChangeFailed when only the final header change failed
     * @throws StrataException     with qemu-img's message otherwise (nothing written)
     */
    public static void run(Request request, Listener listener, CheckListener diagnostics) {
        ChainOpener opener = ChainOpener.standard();
        ImageSource source = request.image();
        Layer top;
        Image oldBacking = null;
        try {
            top = opener.openLayer(source.fileName(), source.format(),
                    new OpenOptions(false, false, true).withCache(request.cache()).withDiagnostics(diagnostics));
            if (!request.unsafe()) {
                try {
                    oldBacking = openOldBacking(opener, top, diagnostics);
                } catch (StrataException e) {
                    top.driver().close();
                    throw e;
                }
            }
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(source.displayName(), e), e);
        }
        String format = top.driver().formatName();
        try {
            if (top.probed() && "raw".equals(format)) {
                listener.warning(RawProbeWarning.text(source.fileName()));
            }
            if (request.backingFormat() != null && !QemuDrivers.known(request.backingFormat())) {
                throw StrataException.invalid("Invalid format name: '" + request.backingFormat() + "'");
            }
            if (!request.unsafe()) {
                copyDifferences(request, opener, top, oldBacking, listener, diagnostics);
            }
        } finally {
            top.driver().close();
            if (oldBacking != null) {
                oldBacking.close();
            }
        }
        changeBackingFile(request, format);
    }

    /** The image's backing chain, read-only, or null when it has none. */
    private static Image openOldBacking(ChainOpener opener, Layer top, CheckListener diagnostics) {
        Optional<BackingReference> ref = top.driver().backing();
        if (ref.isEmpty() || ref.get().fileName().isEmpty()) {
            return null;
        }
        String name = PathNames.combine(top.fileName(), ref.get().fileName());
        try {
            return opener.open(name, ref.get().format(),
                    new OpenOptions(true, false, false).withDiagnostics(diagnostics));
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Could not open backing file: " + e.getMessage(), e);
        }
    }

    private static void copyDifferences(Request request, ChainOpener opener, Layer top, Image oldBacking,
                                        Listener listener, CheckListener diagnostics) {
        List<Layer> chain = new ArrayList<>();
        chain.add(top);
        if (oldBacking != null) {
            chain.addAll(oldBacking.layers());
        }
        Image newBacking = null;
        boolean ownsNewBacking = false;
        int prefix = -1;
        String name = request.backingFile();
        if (!name.isEmpty()) {
            String realPath;
            try {
                realPath = PathNames.combine(top.fileName(), name);
            } catch (StrataException e) {
                throw new StrataException(e.kind(), "Could not resolve backing filename: " + e.getMessage(), e);
            }
            prefix = BackingChainSearch.indexOf(chain, realPath);
            if (prefix >= 0) {
                // A view of the old chain's lower layers; oldBacking owns and closes them.
                newBacking = new ImageChain(chain.subList(prefix, chain.size()));
            } else {
                newBacking = openNewBacking(opener, request, realPath, diagnostics);
                ownsNewBacking = true;
            }
        }
        try {
            LayerWriter writer = top.driver().writer().orElseThrow(() -> new StrataException(ErrorKind.ENOTSUP,
                    "Error while writing to COW image: Operation not supported"));
            long size = top.driver().virtualSize();
            float step = size == 0 ? 0 : 100f / (float) (size / Math.min(size, BackingDiffCopy.STEP));
            new BackingDiffCopy(chain, writer, oldBacking, newBacking, prefix, zeroUnit(top, oldBacking != null))
                    .run(() -> listener.progress(step));
            writer.flush();
        } finally {
            if (ownsNewBacking) {
                newBacking.close();
            }
        }
    }

    /**
     * The cluster size when zero writes into {@code top} can become zero clusters as qemu's
     * block layer makes them (qcow2 v3, or v2 without a backing file; not extended L2), else 0.
     */
    private static long zeroUnit(Layer top, boolean hasBacking) {
        if (!"qcow2".equals(top.driver().formatName())) {
            return 0;
        }
        LayerDescription d = top.driver().describe();
        Map<String, Object> specific = d.formatSpecific() == null ? Map.of() : d.formatSpecific();
        boolean v2 = "0.10".equals(specific.get("compat"));
        if (Boolean.TRUE.equals(specific.get("extended-l2")) || (v2 && hasBacking)) {
            return 0;
        }
        return d.clusterSize();
    }

    private static Image openNewBacking(ChainOpener opener, Request request, String realPath,
                                        CheckListener diagnostics) {
        OpenOptions options = new OpenOptions(true, request.forceShare(), false).withCache(request.sourceCache())
                .withDiagnostics(diagnostics);
        try {
            return opener.open(realPath, request.backingFormat(), options);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Could not open new backing file '" + request.backingFile() + "': "
                    + e.getMessage(), e);
        }
    }

    /** bdrv_change_backing_file and img_rebase's messages for its failures. */
    private static void changeBackingFile(Request request, String format) {
        String name = request.backingFile();
        boolean set = name != null && !name.isEmpty();
        String file = set ? name : null;
        String fmt = set ? request.backingFormat() : null;
        try {
            if (set && fmt == null) {
                throw new StrataException(ErrorKind.EINVAL, "Invalid argument");
            }
            if (!"qcow2".equals(format)) {
                throw StrataException.unsupported("Operation not supported");
            }
            try (Storage storage = FileStorage.open(request.image().fileName(), false)) {
                Qcow2BackingChange.apply(storage, file, fmt);
            }
        } catch (StrataException e) {
            String shown = name == null ? "(null)" : name;
            String why;
            if (e.kind() == ErrorKind.ENOSPC) {
                why = "No space left in the file header";
            } else if (e.kind() == ErrorKind.EINVAL && name != null && request.backingFormat() == null) {
                why = "backing format must be specified";
            } else {
                why = e.kind().strerror();
            }
            throw new BackingChangeFailed(e.kind(), "Could not change the backing file to '" + shown + "': " + why, e);
        }
    }
}
