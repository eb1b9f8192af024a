package dev.strata.engine.ops.commit;

/*
 * Design note: the nodes qemu-img commit works on, opened in qemu's order with qemu's
 * messages.
 *
 *  1. open: the image read-write without its chain, then its backing chain read-only (a missing
 *     backing file fails the open as qemu's does: "Could not open 'TOP': Could not open backing
 *     file: ...");
 *  2. the base is chosen (by name or the immediate backing file) by the caller;
 *  3. reopenBase: as qemu's commit job reopens the base read-write, the layers from the base
 *     down are opened again: the base read-write (a refusal is "Could not open 'BASE': reason",
 *     reported after the job's first progress line as in qemu), what lies under it read-only,
 *     all as reopens (OpenOptions.reopen: no stale-bitmaps warning, no header update again).
 *     The intermediate layers stay read-only. A dirty qcow2 layer under the base fails the
 *     reopen first ("failed while preparing to reopen image 'NAME'"): qemu cannot mark it clean
 *     while it stays read-only.
 *
 * Afterwards guestView() reads what the top image shows (through the base's own writer, so the
 * bytes the copy has written are what later reads see), and underBase() is what the base's
 * copy-on-write reads from.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReader;
import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.ImageChain;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.info.ImageSource;
import dev.strata.engine.storage.CacheMode;
import dev.strata.engine.storage.Zeros;

import java.io.Closeable;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The top image of a commit, its backing chain, and (once chosen) its base opened read-write. */
final class CommitChain implements Closeable {
    private final ChainOpener opener = ChainOpener.standard();
    private final CacheMode cache;
    private final List<Layer> layers = new ArrayList<>();
    private int baseIndex = -1;
    private ImageChain guestView;
    private ImageChain underBase;

    private CommitChain(CacheMode cache) {
        this.cache = cache;
    }

    /**
     * Opens {@code source} read-write and its backing chain read-only; what the opens print (a
     * dirty image's repair, stale-bitmaps warnings) goes to {@code diagnostics}.
     *
     * @throws StrataException with qemu-img's complete message
     */
    static CommitChain open(ImageSource source, CacheMode cache, CheckListener diagnostics) {
        CommitChain chain = new CommitChain(cache);
        try {
            Layer top = chain.opener.openLayer(source.fileName(), source.format(),
                    new OpenOptions(false, false, true).withCache(cache).withDiagnostics(diagnostics));
            chain.layers.add(top);
            Image below = openBacking(chain.opener, top,
                    new OpenOptions(true, false, false).withDiagnostics(diagnostics));
            if (below != null) {
                chain.layers.addAll(below.layers());
            }
        } catch (StrataException e) {
            chain.close();
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(source.displayName(), e), e);
        }
        return chain;
    }

    /** The backing chain of {@code layer} opened with {@code options}, or null when it has none. */
    private static Image openBacking(ChainOpener opener, Layer layer, OpenOptions options) {
        Optional<BackingReference> ref = layer.driver().backing();
        if (ref.isEmpty() || ref.get().fileName().isEmpty()) {
            return null;
        }
        String name = PathNames.combine(layer.fileName(), ref.get().fileName());
        try {
            return opener.open(name, ref.get().format(), options);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Could not open backing file: " + e.getMessage(), e);
        }
    }

    /** The layers, top first. */
    List<Layer> layers() {
        return layers;
    }

    /** The top image. */
    Layer top() {
        return layers.get(0);
    }

    /**
     * Makes layer {@code index} (greater than 0) the base and opens it read-write, with the
     * layers below it opened again read-only.
     *
     * @throws StrataException "Could not open 'BASE': reason" when the base cannot be written
     */
    void reopenBase(int index) {
        for (Layer under : layers.subList(index + 1, layers.size())) {
            // qemu reopens the base with the nodes under it; those stay read-only, and
            // qcow2_reopen_prepare first marks each clean, which a dirty one (lazy refcounts
            // left dirty) cannot be without writing its header.
            if (under.driver() instanceof Qcow2Driver q && q.header().dirty()) {
                throw new StrataException(ErrorKind.EPERM,
                        "failed while preparing to reopen image '" + under.fileName() + "'");
            }
        }
        Layer old = layers.get(index);
        String name = old.fileName();
        String format = old.driver().formatName();
        List<Layer> dropped = new ArrayList<>(layers.subList(index, layers.size()));
        layers.subList(index, layers.size()).clear();
        for (Layer l : dropped) { // a loop, not forEach(lambda): see HostFiles.Binding
            l.driver().close();
        }
        // qemu reopens the nodes it holds: nothing of a first open is done (or printed) again
        Layer base = opener.openLayer(name, format, new OpenOptions(false, false, true).withCache(cache)
                .withReopen(true));
        layers.add(base);
        baseIndex = index;
        Image below;
        try {
            below = openBacking(opener, base, new OpenOptions(true, false, false).withReopen(true));
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(name, e), e);
        }
        if (below != null) {
            layers.addAll(below.layers());
            underBase = new ImageChain(layers.subList(index + 1, layers.size()));
        }
        guestView = new ImageChain(layers);
    }

    /** The base (after {@link #reopenBase}). */
    Layer base() {
        return layers.get(baseIndex);
    }

    /** Index of the base in {@link #layers()}. */
    int baseIndex() {
        return baseIndex;
    }

    /** The guest view of the top image, read through the writable base. */
    Image guestView() {
        return guestView;
    }

    /** What the base reads where it holds nothing: the chain under it, zeros past its end. */
    BackingReader underBase() {
        ImageChain below = underBase;
        if (below == null) {
            return BackingReader.NONE;
        }
        return (dst, offset) -> {
            long size = below.size();
            int inside = (int) Math.max(0, Math.min(dst.remaining(), size - offset));
            if (inside > 0) {
                below.read(dst.slice(dst.position(), inside), offset);
                dst.position(dst.position() + inside);
            }
            Zeros.fill(dst);
        };
    }

    /** Size of the chain under the base, 0 when it has none. */
    long underBaseSize() {
        return underBase == null ? 0 : underBase.size();
    }

    /** Closes every layer (flushing writers); the first failure is thrown after all are closed. */
    @Override
    public void close() {
        RuntimeException first = null;
        for (Layer l : layers) {
            try {
                l.driver().close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        layers.clear();
        if (first != null) {
            throw first;
        }
    }
}
