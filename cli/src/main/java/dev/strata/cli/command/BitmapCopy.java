package dev.strata.cli.command;

import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.qcow2.Qcow2BitmapDirectory;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.image.Image;

/**
 * {@code convert --bitmaps}: qemu-img's convert_check_bitmaps on the source. A source without
 * persistent bitmaps converts as usual; copying bitmaps that exist is not supported yet and is
 * refused before anything is written.
 */
final class BitmapCopy {
    private BitmapCopy() {
    }

    /** The error for {@code --bitmaps} on {@code source}, or null when the convert may go on. */
    static String sourceMistake(Image source, boolean skipBroken) {
        FormatDriver top = source.layers().get(0).driver();
        if (!(top instanceof Qcow2Driver qcow2)) {
            return "Source lacks bitmap support";
        }
        Qcow2BitmapDirectory dir = qcow2.bitmapDirectory();
        for (Qcow2BitmapDirectory.Entry e : dir.entries()) {
            if (!skipBroken && e.inUse()) {
                return "Cannot copy inconsistent bitmap '" + e.name() + "'\n"
                        + "Try --skip-broken-bitmaps, or use 'qemu-img bitmap --remove' to delete it";
            }
        }
        if (!dir.entries().isEmpty()) {
            return "Copying persistent bitmaps is not supported yet";
        }
        return null;
    }
}
