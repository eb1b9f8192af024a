package dev.strata.daemon.export;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2Bitmaps;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.image.DirtyBitmap;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.Layer;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One persistent dirty bitmap an export offers as {@code qemu:dirty-bitmap:NAME} (qemu-nbd's
 * {@code -B NAME}). The bits are the live bitmap of the open image, not a copy: block status
 * always reads them as they are now.
 *
 * @param name the bitmap's name in the image
 * @param bits its bits, covering the guest size of the layer that holds it
 */
public record ExportedBitmap(String name, DirtyBitmap bits) {
    public ExportedBitmap {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(bits, "bits");
    }

    /**
     * The bitmaps {@code names} asks for, as qemu-nbd 7.2 sets them up (nbd_export_create): its
     * {@code -B} list is built by prepending, so the export order is the reverse of the command
     * line; each name is looked for from the top layer down the backing chain, and the first layer
     * holding it wins; a name given twice is exported twice.
     *
     * @throws StrataException ENOENT {@code Bitmap 'NAME' is not found} when no layer has it (a raw
     *         image never has any); EINVAL {@code Bitmap 'NAME' is inconsistent and cannot be used}
     *         for a bitmap left in_use on disk
     */
    public static List<ExportedBitmap> resolve(Image image, List<String> names) {
        List<ExportedBitmap> out = new ArrayList<>();
        for (int i = names.size() - 1; i >= 0; i--) {
            String name = names.get(i);
            Qcow2Bitmaps.PersistentBitmap found = null;
            for (Layer layer : image.layers()) {
                if (layer.driver() instanceof Qcow2Driver q) {
                    found = q.persistentBitmaps().find(name).orElse(null);
                    if (found != null) {
                        break;
                    }
                }
            }
            if (found == null) {
                throw new StrataException(ErrorKind.ENOENT, "Bitmap '" + name + "' is not found");
            }
            if (found.inconsistent()) {
                // qemu-nbd prints the message of bdrv_dirty_bitmap_check without its hint.
                throw StrataException.invalid("Bitmap '" + name + "' is inconsistent and cannot be used");
            }
            out.add(new ExportedBitmap(name, found.bits()));
        }
        return out;
    }
}
