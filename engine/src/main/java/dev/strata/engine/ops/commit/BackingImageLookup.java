package dev.strata.engine.ops.commit;

/*
 * Design note: qemu's bdrv_find_backing_image, which resolves qemu-img commit's -b. Only
 * backing files are candidates (never the top image). For each layer that has a backing file:
 *  - when the name or the layer's backing reference has a protocol prefix, the name must equal
 *    the reference as written or as combined with the layer's directory;
 *  - otherwise the name, taken relative to the layer's directory unless absolute, and the
 *    layer's combined backing name must both exist and resolve (realpath) to the same file;
 *    a name that does not resolve from one layer may still match from a lower one.
 */

import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.image.Layer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** Finds a base in a backing chain by the name a user gave for it. */
final class BackingImageLookup {
    private BackingImageLookup() {
    }

    /**
     * The index in {@code layers} (top first, every backing file opened) of the backing file
     * {@code name} designates, or -1 when none does.
     */
    static int find(List<Layer> layers, String name) {
        boolean nameHasProtocol = PathNames.hasProtocol(name);
        for (int i = 0; i + 1 < layers.size(); i++) {
            Layer layer = layers.get(i);
            Optional<BackingReference> ref = layer.driver().backing();
            if (ref.isEmpty()) {
                continue;
            }
            String reference = ref.get().fileName();
            String full = PathNames.combine(layer.fileName(), reference);
            if (nameHasProtocol || PathNames.hasProtocol(reference)) {
                if (name.equals(reference) || name.equals(full)) {
                    return i + 1;
                }
                continue;
            }
            Path wanted = realPath(PathNames.combine(layer.fileName(), name));
            Path backing = wanted == null ? null : realPath(full);
            if (backing != null && backing.equals(wanted)) {
                return i + 1;
            }
        }
        return -1;
    }

    private static Path realPath(String name) {
        try {
            return Path.of(name).toRealPath();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
