package dev.strata.daemon.export;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.Capabilities;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.check.CheckListener;

import java.io.Closeable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The exports of one daemon, by name, in command-line order. Opened once at start from the
 * command line; immutable afterwards, so lookups from event loops and FUSE threads need no lock.
 *
 * <p>Every image is opened read-only through {@link ChainOpener} (the format given or probed,
 * the whole backing chain), so neither the image nor any backing file is ever written: not a
 * header, not a dirty bit. Exports advertise {@link Capabilities#readOnly()} whatever the
 * engine would allow, because the daemon has no write path yet.
 */
public final class ExportRegistry implements Closeable {
    /** NBD's limit on any string, export names included (bytes of UTF-8). */
    static final int MAX_NAME_BYTES = 4096;

    private final Map<String, Export> exports;

    private ExportRegistry(Map<String, Export> exports) {
        this.exports = exports;
    }

    /**
     * Opens every export of {@code specs}. On failure the exports opened so far are closed.
     *
     * @param forceShare  qemu's {@code -U}
     * @param diagnostics where the opens print what qemu-nbd's open prints (a qcow2 image's
     *                    stale-bitmaps warning)
     * @throws StrataException with qemu-nbd's message naming the file, e.g. {@code Failed to
     *         blk_new_open 'x.qcow2': Could not open 'x.qcow2': No such file or directory}
     * @throws IllegalArgumentException for duplicate or over-long export names
     */
    public static ExportRegistry open(List<ExportSpec> specs, ChainOpener opener, boolean forceShare,
                                      CheckListener diagnostics) {
        Map<String, Export> map = new LinkedHashMap<>();
        OpenOptions options = new OpenOptions(true, forceShare, false).withDiagnostics(diagnostics);
        try {
            for (ExportSpec spec : specs) {
                if (map.containsKey(spec.name())) {
                    throw new IllegalArgumentException("export name '" + spec.name() + "' is used twice");
                }
                if (spec.name().getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES
                        || spec.description().getBytes(StandardCharsets.UTF_8).length > MAX_NAME_BYTES) {
                    throw new IllegalArgumentException("export '" + spec.name()
                            + "': names and descriptions are limited to 4096 bytes");
                }
                Image image;
                try {
                    image = opener.open(spec.file(), spec.format(), options);
                } catch (StrataException e) {
                    // qemu-nbd's wording for a failed open of its image
                    throw new StrataException(e.kind(), "Failed to blk_new_open '" + spec.file() + "': "
                            + e.getMessage(), e);
                }
                List<ExportedBitmap> bitmaps;
                try {
                    bitmaps = ExportedBitmap.resolve(image, spec.bitmaps());
                } catch (RuntimeException e) {
                    image.close();
                    throw e;
                }
                map.put(spec.name(), new Export(spec.name(), spec.description(), image, Capabilities.readOnly(),
                        spec.allocationDepth(), spec.file(), bitmaps));
            }
        } catch (RuntimeException e) {
            map.values().forEach(x -> x.image().close());
            throw e;
        }
        return new ExportRegistry(Collections.unmodifiableMap(map));
    }

    /** A registry over already-opened exports (tests, embedding). */
    public static ExportRegistry of(List<Export> list) {
        Map<String, Export> map = new LinkedHashMap<>();
        for (Export e : list) {
            if (map.put(e.name(), e) != null) {
                throw new IllegalArgumentException("export name '" + e.name() + "' is used twice");
            }
        }
        return new ExportRegistry(Collections.unmodifiableMap(map));
    }

    /** The export called {@code name}, if any. */
    public Optional<Export> lookup(String name) {
        return Optional.ofNullable(exports.get(name));
    }

    /** Every export, in command-line order. */
    public List<Export> list() {
        return new ArrayList<>(exports.values());
    }

    /** Number of exports. */
    public int size() {
        return exports.size();
    }

    /** Closes every image. */
    @Override
    public void close() {
        for (Export e : exports.values()) {
            try {
                e.image().close();
            } catch (RuntimeException ignored) {
                // closing read-only files: nothing to lose
            }
        }
    }
}
