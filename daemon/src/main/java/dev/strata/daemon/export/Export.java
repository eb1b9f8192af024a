package dev.strata.daemon.export;

import dev.strata.engine.image.Capabilities;
import dev.strata.engine.image.Image;

import java.util.List;
import java.util.Objects;

/**
 * One served image: a name clients ask for, a description, the opened chain and what it permits.
 * The registry owns the image and closes it; an export never outlives its registry.
 *
 * @param name            the NBD export name ({@code ""} is the default export)
 * @param description     free text, may be empty
 * @param image           the opened chain (read-only)
 * @param capabilities    what the export allows; advertised as NBD transmission flags
 * @param allocationDepth whether {@code qemu:allocation-depth} is offered
 * @param file            the top image file name as given on the command line
 * @param bitmaps         the dirty bitmaps offered as {@code qemu:dirty-bitmap:NAME}, in qemu-nbd's
 *                        export order (its context ids are 2, 3, ... in this order)
 */
public record Export(String name, String description, Image image, Capabilities capabilities,
                     boolean allocationDepth, String file, List<ExportedBitmap> bitmaps) {

    public Export {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(image, "image");
        Objects.requireNonNull(capabilities, "capabilities");
        Objects.requireNonNull(file, "file");
        bitmaps = List.copyOf(bitmaps);
    }

    /** An export without dirty bitmaps. */
    public Export(String name, String description, Image image, Capabilities capabilities, boolean allocationDepth,
                  String file) {
        this(name, description, image, capabilities, allocationDepth, file, List.of());
    }

    /** Guest-visible size in bytes. */
    public long size() {
        return image.size();
    }
}
