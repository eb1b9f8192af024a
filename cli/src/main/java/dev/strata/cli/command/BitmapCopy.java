package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.qcow2.Qcow2Bitmaps;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.image.Image;

/**
 * {@code convert --bitmaps}: qemu-img 7.2's convert_check_bitmaps on the source before anything
 * is written, and convert_copy_bitmaps after the data copy: each persistent bitmap of the source,
 * in the block layer's list order, is added to the target with the same granularity and enabled
 * state and the source's bits merged into it; the target stores them when it is closed. An
 * inconsistent (in_use) bitmap is refused, or skipped with a warning under
 * {@code --skip-broken-bitmaps}.
 */
final class BitmapCopy {
    private BitmapCopy() {
    }

    /** The error for {@code --bitmaps} on {@code source}, or null when the convert may go on. */
    static String sourceMistake(Image source, boolean skipBroken) {
        Qcow2Bitmaps bitmaps = bitmapsOf(source);
        if (bitmaps == null) {
            return "Source lacks bitmap support";
        }
        for (Qcow2Bitmaps.PersistentBitmap b : bitmaps.bitmaps()) {
            if (!skipBroken && b.inconsistent()) {
                return "Cannot copy inconsistent bitmap '" + b.name() + "'\n"
                        + "Try --skip-broken-bitmaps, or use 'qemu-img bitmap --remove' to delete it";
            }
        }
        return null;
    }

    /**
     * convert_copy_bitmaps from {@code source} to {@code target} (both open; the target
     * read-write). Prints qemu's messages.
     *
     * @return false after an error
     */
    static boolean copy(CliContext ctx, Image source, Image target, boolean skipBroken) {
        Qcow2Bitmaps from = bitmapsOf(source);
        Qcow2Bitmaps to = bitmapsOf(target);
        if (from == null || to == null) {
            return true; // checked before the copy
        }
        for (Qcow2Bitmaps.PersistentBitmap b : from.bitmaps()) {
            if (skipBroken && b.inconsistent()) {
                ctx.error("warning: Skipping inconsistent bitmap '" + b.name() + "'");
                continue;
            }
            try {
                to.add(b.name(), b.granularity(), !b.enabled());
            } catch (StrataException e) {
                ctx.error("Failed to create bitmap " + b.name() + ": " + e.getMessage());
                return false;
            }
            try {
                to.merge(b.name(), from, b.name());
            } catch (StrataException e) {
                ctx.error("Failed to populate bitmap " + b.name() + ": " + e.getMessage());
                try {
                    to.remove(b.name());
                } catch (StrataException ignored) {
                    // qemu ignores the removal's error too
                }
                return false;
            }
        }
        return true;
    }

    /** The persistent bitmaps of the top layer, or null when its format has none (raw, qcow2 v2, ...). */
    private static Qcow2Bitmaps bitmapsOf(Image image) {
        FormatDriver top = image.layers().get(0).driver();
        if (top instanceof Qcow2Driver q && q.header().version() >= 3) {
            return q.persistentBitmaps();
        }
        return null;
    }
}
