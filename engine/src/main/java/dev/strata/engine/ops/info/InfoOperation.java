package dev.strata.engine.ops.info;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.LayerDescription;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.check.CheckListener;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * {@code qemu-img info}: describes one layer, or with {@code backingChain} every layer down the
 * chain, as qemu-img 7.2's {@code collect_image_info_list} does.
 *
 * <p>Each layer is opened on its own, without its backing file, so a missing backing file
 * does not fail a plain {@code info}, and for metadata only ({@link OpenOptions#noIo()}, qemu's
 * BDRV_O_NO_IO), so neither does a missing external data file nor a missing encryption key.
 * Down the chain the next name is the previous layer's full backing file name and its format
 * the recorded backing format (probed when none is recorded). A name seen before ends the walk
 * with qemu's "creates an infinite loop" error; like qemu, names are compared as strings.
 */
public final class InfoOperation {
    private final ChainOpener opener;

    public InfoOperation(ChainOpener opener) {
        this.opener = opener;
    }

    /**
     * The info of {@code source}, and of its backing chain when {@code backingChain} is set.
     *
     * @throws StrataException with qemu-img's complete message (after the program name), e.g.
     *         "Could not open 'x': Could not open 'x': No such file or directory"
     */
    public List<ImageInfo> collect(ImageSource source, boolean backingChain, boolean forceShare) {
        return collect(source, backingChain, forceShare, CheckListener.ignoring());
    }

    /**
     * As {@link #collect(ImageSource, boolean, boolean)}; what each open prints on stderr (a qcow2
     * layer's stale-bitmaps warning) goes to {@code diagnostics}.
     */
    public List<ImageInfo> collect(ImageSource source, boolean backingChain, boolean forceShare,
                                   CheckListener diagnostics) {
        OpenOptions options = new OpenOptions(true, forceShare, true).withNoIo(true).withDiagnostics(diagnostics);
        List<ImageInfo> list = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        String fileName = source.fileName();
        String format = source.format();
        String displayName = source.displayName();
        while (fileName != null) {
            if (!seen.add(fileName)) {
                throw new StrataException(ErrorKind.EINVAL,
                        "Backing file '" + fileName + "' creates an infinite loop.");
            }
            ImageInfo info = describe(fileName, format, displayName, options);
            list.add(info);
            if (!backingChain) {
                break;
            }
            fileName = info.fullBackingFilename();
            format = info.backingFormat();
            displayName = fileName;
        }
        return List.copyOf(list);
    }

    /** The info of one layer, opened without its backing file. */
    public ImageInfo describe(String fileName, String format, String displayName, OpenOptions options) {
        Layer layer;
        try {
            layer = opener.openLayer(fileName, format, options);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(displayName, e), e);
        }
        try {
            return infoOf(layer);
        } finally {
            layer.driver().close();
        }
    }

    /** The info of an open layer (qemu's bdrv_query_image_info). */
    public static ImageInfo infoOf(Layer layer) {
        FormatDriver d = layer.driver();
        LayerDescription desc = d.describe();
        Optional<BackingReference> backing = d.backing();
        String backingName = null;
        String fullBackingName = null;
        String backingFormat = null;
        if (backing.isPresent() && !backing.get().fileName().isEmpty()) {
            backingName = backing.get().fileName();
            try {
                fullBackingName = PathNames.combine(layer.fileName(), backingName);
            } catch (StrataException e) {
                fullBackingName = null; // qemu: "(cannot determine actual path)"
            }
            String f = backing.get().format();
            backingFormat = f == null || f.isEmpty() ? null : f;
        }
        long actual = d.allocatedFileSize();
        return new ImageInfo(layer.fileName(), d.formatName(), d.virtualSize(), actual < 0 ? -1 : actual,
                Boolean.TRUE.equals(desc.dirty()), desc.clusterSize(), desc.encrypted(),
                backingName, fullBackingName, backingFormat,
                desc.snapshots() == null ? List.of() : List.copyOf(desc.snapshots()),
                desc.formatSpecific() == null ? null : d.formatName(), desc.formatSpecific());
    }
}
