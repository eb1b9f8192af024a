package dev.strata.engine.ops.commit;

/*
 * Design note: qemu-img 7.2's img_commit after option parsing, in qemu's order:
 *
 *  1. open the image read-write, its backing chain read-only (CommitChain); a probed raw image
 *     gets qemu's warning;
 *  2. progress 0; the base: -b resolved by bdrv_find_backing_image ("Did not find 'B' in the
 *     backing chain of 'IMG'"), else the immediate backing file ("Image does not have a backing
 *     file");
 *  3. the commit job: the base reopened read-write; grown to the top's size when smaller (as a
 *     resize: where the base's own backing file reaches past its old end, the new range is
 *     written as zeros); the copy (CommitCopier); a flush; progress 100;
 *  4. unless -d: the top emptied as qcow2_make_empty does (Qcow2Emptier: the file reset, or,
 *     for v2 images and v3 images with snapshots, bitmaps, an external data file or an L1 table
 *     too large for one refcount block, every cluster discarded with full discard).
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.format.qcow2.Qcow2Emptier;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.raw.RawProbeWarning;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.info.ImageSource;
import dev.strata.engine.storage.Storage;
import dev.strata.engine.storage.StorageResolver;

import java.util.Optional;

/** Commits an overlay into its base (qemu-img commit). */
public final class CommitOp {
    private CommitOp() {
    }

    /**
     * Commits {@code source} into its base as qemu-img commit does.
     *
     * @param diagnostics what the image's opens print on stderr (the repair of a dirty qcow2
     *                    image, the stale-bitmaps warning), see
     *                    {@link dev.strata.engine.format.OpenOptions#diagnostics()}
     * @throws StrataException with qemu-img's message; nothing is written when it fails before
     *                         the copy starts (open, base lookup, base not writable)
     */
    public static void run(ImageSource source, CommitSettings settings, CommitListener listener,
                           CheckListener diagnostics) {
        String resetName = null;
        try (CommitChain chain = CommitChain.open(source, settings.cache(), diagnostics)) {
            Layer top = chain.top();
            if (top.probed() && "raw".equals(top.driver().formatName())) {
                listener.warning(RawProbeWarning.text(source.fileName()));
            }
            listener.progress(0f);
            int baseIndex = findBase(chain, source, settings.baseName());
            boolean empty = !settings.drop() && top.driver() instanceof Qcow2Driver;
            chain.reopenBase(baseIndex);
            commit(chain, settings, listener);
            if (empty) {
                if (Qcow2Emptier.resetsFile(Qcow2Header.parse(top.driver().file()))) {
                    resetName = top.fileName();
                } else {
                    // qcow2_make_empty's fallback, on the top as it is open (its bitmaps are
                    // stored once, when it closes, as qemu's are)
                    Qcow2Emptier.discardAll((Qcow2Driver) top.driver());
                }
            }
        }
        listener.progress(100f);
        if (resetName != null) {
            resetFile(resetName);
        }
    }

    private static int findBase(CommitChain chain, ImageSource source, String baseName) {
        if (baseName != null) {
            int index = BackingImageLookup.find(chain.layers(), baseName);
            if (index < 0) {
                throw StrataException.invalid("Did not find '" + baseName + "' in the backing chain of '"
                        + source.displayName() + "'");
            }
            return index;
        }
        if (chain.layers().size() < 2) {
            throw StrataException.invalid("Image does not have a backing file");
        }
        return 1;
    }

    private static void commit(CommitChain chain, CommitSettings settings, CommitListener listener) {
        FormatDriver base = chain.base().driver();
        Optional<LayerWriter> baseWriter = base.writer(); // no orElseThrow(lambda): see HostFiles.Binding
        if (baseWriter.isEmpty()) {
            throw new StrataException(ErrorKind.ENOTSUP, "Driver '" + base.formatName() + "' does not support writes");
        }
        LayerWriter writer = baseWriter.get();
        long topSize = chain.top().driver().virtualSize();
        long baseSize = base.virtualSize();
        if (topSize > baseSize) {
            writer.resize(topSize, Preallocation.OFF);
            if (chain.underBaseSize() > baseSize) {
                writer.writeZeroes(baseSize, topSize - baseSize, false, chain.underBase());
            }
        }
        new CommitCopier(chain, writer, settings.rateBytesPerSecond(), listener).run();
        writer.flush();
    }

    /** make_completely_empty on the committed top image, which no writer holds any more. */
    private static void resetFile(String name) {
        Storage file = StorageResolver.installed().open(name, false);
        try {
            Qcow2Emptier.resetFile(file);
        } finally {
            file.close();
        }
    }
}
