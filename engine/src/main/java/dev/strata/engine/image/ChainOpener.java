package dev.strata.engine.image;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReference;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.FormatFactory;
import dev.strata.engine.format.FormatRegistry;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.storage.LockRequest;
import dev.strata.engine.storage.Storage;
import dev.strata.engine.storage.StorageResolver;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Opens an image and, unless told not to, its whole backing chain (backing files read-only,
 * as qemu opens them whatever the overlay's mode). Backing names are combined
 * with the overlay's directory as qemu does; the backing format comes from the overlay's header,
 * or from probing when the header records none. A chain that comes back to a file already in it
 * is refused instead of being opened forever.
 *
 * <p>Each layer's file is locked as qemu locks it ({@link #lockFor}) once its format is known,
 * before the format driver reads it: an image another program writes is refused with qemu's
 * "Failed to get ... lock" before anything is read or written.
 *
 * <p>Error messages are qemu's without the outermost "Could not open 'NAME': " that qemu-img
 * adds; {@link #describeOpenFailure} adds it.
 */
public final class ChainOpener {
    private final FormatRegistry registry;
    private final StorageResolver storages;

    /** An opener over {@code registry} that opens names through the installed resolver. */
    public ChainOpener(FormatRegistry registry) {
        this(registry, StorageResolver.installed());
    }

    /** An opener over {@code registry} that opens names (image and backing files) through {@code storages}. */
    public ChainOpener(FormatRegistry registry, StorageResolver storages) {
        this.registry = registry;
        this.storages = storages;
    }

    /** An opener over every format on the class path and the installed {@link StorageResolver}. */
    public static ChainOpener standard() {
        return new ChainOpener(FormatRegistry.standard());
    }

    /**
     * Opens {@code fileName} (format {@code format}, or probed when null) and its chain.
     *
     * @throws StrataException with qemu's message, without the "Could not open" prefix
     */
    public Image open(String fileName, String format, OpenOptions options) {
        List<Layer> layers = new ArrayList<>();
        Set<Path> seen = new HashSet<>();
        try {
            Layer top = openLayer(fileName, format, options);
            layers.add(top);
            remember(seen, top);
            if (!options.noBacking()) {
                openBackingChain(layers, seen, options);
            }
            return new ImageChain(layers);
        } catch (RuntimeException e) {
            layers.forEach(l -> l.driver().close());
            throw e;
        }
    }

    private void openBackingChain(List<Layer> layers, Set<Path> seen, OpenOptions options) {
        // qemu opens backing files read-only whatever the overlay's mode: only the top is written
        OpenOptions backingOptions = options.withReadOnly(true);
        Layer current = layers.get(0);
        while (true) {
            Optional<BackingReference> ref = current.driver().backing();
            // qemu's bdrv_open_backing_file: an empty backing name means no backing file.
            if (ref.isEmpty() || ref.get().fileName().isEmpty()) {
                return;
            }
            String name = PathNames.combine(current.fileName(), ref.get().fileName());
            Layer next;
            try {
                next = openLayer(name, ref.get().format(), backingOptions);
            } catch (StrataException e) {
                throw new StrataException(e.kind(), "Could not open backing file: " + e.getMessage(), e);
            }
            if (!remember(seen, next)) {
                next.driver().close();
                throw new StrataException(ErrorKind.EINVAL,
                        "Backing file '" + name + "' creates an infinite loop.");
            }
            layers.add(next);
            current = next;
        }
    }

    /** Opens one layer: host file, then format (given or probed). */
    public Layer openLayer(String fileName, String format, OpenOptions options) {
        return openLayer(fileName, format, options, false);
    }

    /**
     * Opens one layer, claiming its file as a writer when {@code claimAsWriter} even though
     * {@code options} open it read-only: qemu-img check -r opens the image read-write, and its
     * lock errors are a writer's, while strata reads first and repairs through another handle.
     */
    public Layer openLayer(String fileName, String format, OpenOptions options, boolean claimAsWriter) {
        // qemu looks the driver up before touching the file: "-f bogus missing" is "Unknown driver".
        FormatFactory given = format != null ? registry.require(format) : null;
        Storage storage = storages.open(fileName, options.readOnly());
        try {
            FormatFactory factory = given != null ? given : registry.probe(storage);
            storage.lock(lockFor(factory, claimAsWriter ? options.withReadOnly(false) : options));
            FormatDriver driver = factory.open(storage, options);
            return new Layer(driver, fileName, format == null);
        } catch (RuntimeException e) {
            storage.close();
            throw e;
        }
    }

    /**
     * The claim qemu-img makes on a layer's file (image locking): raw files are shared, files of
     * formats with metadata are not writable or resizable by others; -U claims only reads.
     */
    public static LockRequest lockFor(FormatFactory factory, OpenOptions options) {
        if ("raw".equals(factory.name())) {
            return LockRequest.rawFile(options.readOnly(), options.noIo(), false);
        }
        return LockRequest.imageFile(options.readOnly(), options.noIo(), options.forceShare());
    }

    private static boolean remember(Set<Path> seen, Layer layer) {
        Path p = Path.of(layer.fileName());
        try {
            p = p.toRealPath();
        } catch (IOException e) {
            p = p.toAbsolutePath().normalize();
        }
        return seen.add(p);
    }

    /** qemu-img's outer wording for a failed open: "Could not open 'NAME': reason". */
    public static String describeOpenFailure(String fileName, StrataException e) {
        return "Could not open '" + fileName + "': " + e.getMessage();
    }
}
