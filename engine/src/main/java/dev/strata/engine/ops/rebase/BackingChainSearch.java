package dev.strata.engine.ops.rebase;

/*
 * Design note: qemu 7.2's bdrv_find_backing_image as img_rebase calls it, with the new backing
 * file's name already resolved against the image's directory. Each layer that has a backing
 * file is asked in turn, top first: when either name has a protocol prefix the strings are
 * compared as they are (the recorded name, then the name resolved against the layer);
 * otherwise both the wanted name and the layer's recorded name are resolved against the
 * layer's directory and compared as canonical paths (realpath), a layer whose names do not
 * resolve to existing files being passed over. A match is the layer below the one asked.
 */

import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.image.Layer;

import java.io.IOException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** Finds a file among the layers of an opened backing chain, as qemu compares backing names. */
final class BackingChainSearch {
    private BackingChainSearch() {
    }

    /**
     * The index in {@code chain} (the image first, then its backing layers) of the layer that
     * {@code wanted} names, or -1.
     */
    static int indexOf(List<Layer> chain, String wanted) {
        for (int i = 0; i + 1 < chain.size(); i++) {
            Layer current = chain.get(i);
            Optional<BackingReference> ref = current.driver().backing();
            if (ref.isEmpty()) {
                continue;
            }
            String recorded = ref.get().fileName();
            if (PathNames.hasProtocol(wanted) || PathNames.hasProtocol(recorded)) {
                if (wanted.equals(recorded) || wanted.equals(PathNames.combine(current.fileName(), recorded))) {
                    return i + 1;
                }
                continue;
            }
            Path a = canonical(PathNames.combine(current.fileName(), wanted));
            Path b = canonical(PathNames.combine(current.fileName(), recorded));
            if (a != null && a.equals(b)) {
                return i + 1;
            }
        }
        return -1;
    }

    private static Path canonical(String name) {
        try {
            return Path.of(name).toRealPath();
        } catch (IOException | InvalidPathException e) {
            return null;
        }
    }
}
