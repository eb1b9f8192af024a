package dev.strata.engine.ops.bitmap;

/*
 * Design note: qemu-img 7.2's img_bitmap after its argument checks:
 *  - the image is opened read-write without its backing chain (BDRV_O_RDWR | BDRV_O_NO_BACKING),
 *    which loads its persistent bitmaps and marks them in_use on disk; a -b source image is
 *    opened read-only, also without backing;
 *  - the actions run in command-line order on the bitmaps in memory; the first failure stops
 *    them with "Operation OP on bitmap NAME failed: REASON";
 *  - the images are closed in any case, which stores every bitmap of the target (so actions that
 *    succeeded before a failure are kept, as in qemu).
 * Formats without persistent bitmaps (raw and the rest) have no bitmaps: --add fails with the
 * block layer's "Can't store persistent bitmaps to NODE: Operation not supported", every other
 * action with "Dirty bitmap 'NAME' not found".
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.qcow2.Qcow2Bitmaps;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.format.raw.RawProbeWarning;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.info.ImageSource;

import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;

/** Changes the persistent bitmaps of an image (qemu-img bitmap). */
public final class BitmapOp {
    private BitmapOp() {
    }

    /** The kinds of action, named as qemu-img's error message names them. */
    public enum Kind {
        ADD("add"), REMOVE("remove"), CLEAR("clear"), ENABLE("enable"), DISABLE("disable"), MERGE("merge");

        private final String qemuName;

        Kind(String qemuName) {
            this.qemuName = qemuName;
        }

        /** The name in "Operation NAME on bitmap ... failed". */
        public String qemuName() {
            return qemuName;
        }
    }

    /**
     * One action.
     *
     * @param kind   what to do
     * @param source the source bitmap of a merge, else null
     */
    public record Action(Kind kind, String source) {
    }

    /**
     * Runs {@code actions} on bitmap {@code bitmap} of {@code target}.
     *
     * @param granularity  -g (as parsed by cvtnum), or null
     * @param mergeSource  -b/-F, or null to merge from the target itself
     * @param warnings     receives text qemu prints on stderr as is (the probed-raw warning)
     * @param diagnostics what the image's opens print on stderr (the repair of a dirty
     *                    qcow2 image, the stale-bitmaps warning), see {@link OpenOptions#diagnostics()}
     * @throws StrataException with qemu-img's whole message
     */
    public static void run(ImageSource target, String bitmap, List<Action> actions, Long granularity,
                           ImageSource mergeSource, Consumer<String> warnings, CheckListener diagnostics) {
        ChainOpener opener = ChainOpener.standard();
        Layer top = open(opener, target, new OpenOptions(false, false, true).withDiagnostics(diagnostics));
        try {
            if (top.probed() && "raw".equals(top.driver().formatName())) {
                warnings.accept(RawProbeWarning.text(target.fileName()));
            }
            Layer source = mergeSource == null ? null
                    : open(opener, mergeSource, new OpenOptions(true, false, true).withDiagnostics(diagnostics));
            try {
                Qcow2Bitmaps mine = bitmapsOf(top.driver());
                Qcow2Bitmaps theirs = source == null ? mine : bitmapsOf(source.driver());
                for (Action a : actions) {
                    try {
                        apply(a, mine, theirs, bitmap, granularity);
                    } catch (StrataException e) {
                        throw new StrataException(e.kind(), "Operation " + a.kind().qemuName() + " on bitmap " + bitmap
                                + " failed: " + e.getMessage(), e);
                    }
                }
            } finally {
                if (source != null) {
                    source.driver().close();
                }
            }
        } finally {
            top.driver().close();
        }
    }

    private static void apply(Action a, Qcow2Bitmaps mine, Qcow2Bitmaps theirs, String name, Long granularity) {
        if (mine == null) {
            if (a.kind() == Kind.ADD) {
                if (name.isEmpty()) {
                    throw StrataException.invalid("Bitmap name cannot be empty");
                }
                if (granularity != null && ((granularity & 0xffffffffL) < 512
                        || Long.bitCount(granularity & 0xffffffffL) != 1)) {
                    throw StrataException.invalid("Granularity must be power of 2 and at least 512");
                }
                throw new StrataException(ErrorKind.ENOTSUP, "Can't store persistent bitmaps to #block1"
                        + String.format("%02d", ThreadLocalRandom.current().nextInt(100)) + ": Operation not supported");
            }
            throw notFound(name);
        }
        switch (a.kind()) {
            case ADD -> mine.add(name, granularity, false);
            case REMOVE -> mine.remove(name);
            case CLEAR -> mine.clear(name);
            case ENABLE -> mine.setEnabled(name, true);
            case DISABLE -> mine.setEnabled(name, false);
            case MERGE -> {
                if (mine.find(name).isEmpty()) {
                    throw notFound(name);
                }
                if (theirs == null) {
                    throw notFound(a.source());
                }
                mine.merge(name, theirs, a.source());
            }
            default -> throw new IllegalStateException(a.kind().toString());
        }
    }

    private static StrataException notFound(String name) {
        return new StrataException(ErrorKind.ENOENT, "Dirty bitmap '" + name + "' not found");
    }

    private static Qcow2Bitmaps bitmapsOf(FormatDriver driver) {
        return driver instanceof Qcow2Driver q ? q.persistentBitmaps() : null;
    }

    private static Layer open(ChainOpener opener, ImageSource source, OpenOptions options) {
        try {
            return opener.openLayer(source.fileName(), source.format(), options);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(source.displayName(), e), e);
        }
    }
}
