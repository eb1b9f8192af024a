package dev.strata.engine.ops.snapshot;

/*
 * Design note: qemu-img 7.2's img_snapshot after its argument parsing.
 *
 *  - The image is opened as img_open does: read-only for -l (where -U may share it), read-write
 *    otherwise (with -U that fails with the block layer's "force-share=on can only be used with
 *    read-only images"); the backing chain is opened too; a probed raw image opened read-write
 *    warns. With no action the image is only opened and closed.
 *  - Only qcow2 has internal snapshots (and not with an external data file, where its list
 *    fails). Other formats get what qemu's fallback to the protocol layer gives: an empty list,
 *    ENOTSUP for create, "Block driver does not support snapshots" for apply, and "snapshot not
 *    found" for delete (bdrv_snapshot_find lists nothing).
 *  - Apply looks the snapshot up by id, then by name; delete by name only (bdrv_snapshot_find),
 *    then deletes that id and name. Create never refuses an existing name (qemu-img creates a
 *    second snapshot with it).
 *  - Create and delete run while the image is open, as in qemu: the open loaded its persistent
 *    bitmaps and marked them in_use on disk; the writer is flushed (nothing pending), the
 *    snapshot store edits the image file through the open image's own storage, and closing the
 *    image stores the bitmaps (qcow2_store_persistent_dirty_bitmaps), their free-cluster search
 *    continuing where the snapshot's allocations stopped (qemu's one free_cluster_index).
 *  - Apply validates on the open image and closes it (nothing pending) before the snapshot store
 *    works on the file itself. A snapshot whose disk size differs is applied after the image is
 *    resized through the normal resize path (ResizeOp), as qemu's blk_truncate. With persistent
 *    bitmaps (enabled, disabled or in_use) it fails as bdrv_snapshot_goto does ("Device has
 *    active dirty bitmaps"); the close still stores the bitmaps it loaded.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.SnapshotInfo;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.format.qcow2.Qcow2SnapshotStore;
import dev.strata.engine.format.raw.RawProbeWarning;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.info.ImageSource;
import dev.strata.engine.ops.resize.ResizeOp;
import dev.strata.engine.ops.resize.ResizeSize;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.Storage;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/** Lists, creates, applies and deletes internal snapshots (qemu-img snapshot). */
public final class SnapshotOp {
    private SnapshotOp() {
    }

    /** What to do with the image. */
    public enum Action {
        /** Open and close the image only (no action option given). */
        NONE,
        /** -l */
        LIST,
        /** -c NAME */
        CREATE,
        /** -a NAME */
        APPLY,
        /** -d NAME */
        DELETE
    }

    /**
     * An action that failed after the image was opened. qemu-img prints {@link #reports()}
     * first (one error line each), then its own line for the action.
     */
    public static final class ActionFailed extends StrataException {
        private static final long serialVersionUID = 1L;
        private final transient List<String> reports;
        private final boolean loadFailure;

        ActionFailed(ErrorKind kind, String detail, List<String> reports, boolean loadFailure) {
            super(kind, detail);
            this.reports = List.copyOf(reports);
            this.loadFailure = loadFailure;
        }

        /** Lines qemu reports before the action's own error line. */
        public List<String> reports() {
            return reports;
        }

        /**
         * For apply: whether the driver failed (qemu then says "Failed to load snapshot: " and
         * the errno text of {@link #kind()}) rather than the block layer (the message as is).
         * For delete: the message is the detail after "Could not delete snapshot 'NAME': ", or
         * null when no snapshot has the name. For create only the kind counts.
         */
        public boolean loadFailure() {
            return loadFailure;
        }
    }

    /**
     * Runs {@code action} on {@code source}.
     *
     * @param name       the snapshot name (or id, for apply), null for list and none
     * @param forceShare qemu-img's -U
     * @param nowMicros  wall clock in microseconds since the epoch (the new snapshot's date)
     * @param warnings   text qemu prints on stderr as is during the open (probed-raw warning)
     * @param diagnostics what the image's opens print on stderr (the repair of a dirty
     *                    qcow2 image, the stale-bitmaps warning), see {@link OpenOptions#diagnostics()}
     * @return the snapshots for {@link Action#LIST}, else an empty list
     * @throws StrataException with qemu-img's complete message when the image cannot be opened
     *         ("Could not open 'NAME': ..."); {@link ActionFailed} when the action fails
     */
    public static List<SnapshotInfo> run(ImageSource source, Action action, String name, boolean forceShare,
                                         long nowMicros, Consumer<String> warnings,
                                         CheckListener diagnostics) {
        boolean readOnly = action == Action.LIST;
        if (forceShare && !readOnly) {
            throw StrataException.invalid("Could not open '" + source.displayName()
                    + "': force-share=on can only be used with read-only images");
        }
        Image image;
        try {
            image = ChainOpener.standard().open(source.fileName(), source.format(),
                    new OpenOptions(readOnly, forceShare, false).withDiagnostics(diagnostics));
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(source.displayName(), e), e);
        }
        Layer top = image.layers().get(0);
        FormatDriver driver = top.driver();
        boolean qcow2 = driver instanceof Qcow2Driver;
        boolean internal = qcow2 && !((Qcow2Driver) driver).header().hasDataFile();
        try {
            if (!readOnly && top.probed() && "raw".equals(driver.formatName())) {
                warnings.accept(RawProbeWarning.text(source.fileName()));
            }
            switch (action) {
                case NONE:
                    return List.of();
                case LIST:
                    return internal ? driver.describe().snapshots() : List.of();
                case CREATE:
                    if (!qcow2) {
                        throw new ActionFailed(ErrorKind.ENOTSUP, "Operation not supported", List.of(), false);
                    }
                    break;
                case APPLY:
                    if (!qcow2) {
                        if (top.probed() && "raw".equals(driver.formatName())) {
                            // the fallback to the protocol layer closes and reopens the raw node
                            warnings.accept(RawProbeWarning.text(source.fileName()));
                        }
                        throw new ActionFailed(ErrorKind.ENOTSUP, "Block driver does not support snapshots",
                                List.of(), false);
                    }
                    if (!((Qcow2Driver) driver).persistentBitmaps().bitmaps().isEmpty()) {
                        throw new ActionFailed(ErrorKind.EBUSY, "Device has active dirty bitmaps", List.of(), false);
                    }
                    break;
                case DELETE:
                    if (!internal || !hasName(driver.describe().snapshots(), name)) {
                        throw new ActionFailed(ErrorKind.ENOENT, null, List.of(), false);
                    }
                    break;
                default:
                    throw new IllegalStateException();
            }
            if (action == Action.CREATE || action == Action.DELETE) {
                changeWhileOpen(image, (Qcow2Driver) driver, source, action, name, nowMicros, warnings);
                return List.of();
            }
        } finally {
            image.close();
        }
        Storage file = FileStorage.open(source.fileName(), false);
        try {
            Qcow2SnapshotStore store = Qcow2SnapshotStore.open(file, file::flush);
            change(store, source, action, name, nowMicros, warnings);
        } finally {
            file.close();
        }
        return List.of();
    }

    /**
     * Create or delete on the open image's file, with its writer flushed; the bitmaps it loaded
     * are stored when the caller closes it, after the snapshot's allocations.
     */
    private static void changeWhileOpen(Image image, Qcow2Driver driver, ImageSource source, Action action,
                                        String name, long nowMicros, Consumer<String> warnings) {
        image.flush();
        Storage file = driver.file();
        Qcow2SnapshotStore store = Qcow2SnapshotStore.open(file, file::flush);
        driver.persistentBitmaps().shareFreeClusterSearch(store::freeClusterIndex, index -> { });
        change(store, source, action, name, nowMicros, warnings);
    }

    private static void change(Qcow2SnapshotStore store, ImageSource source, Action action, String name,
                               long nowMicros, Consumer<String> warnings) {
        switch (action) {
            case CREATE -> {
                try {
                    store.create(name, nowMicros / 1_000_000, (nowMicros % 1_000_000) * 1000);
                } catch (StrataException e) {
                    throw new ActionFailed(e.kind(), e.getMessage(), List.of(), false);
                }
            }
            case APPLY -> {
                List<String> reports = new ArrayList<>();
                try {
                    store.apply(name, size -> resize(source, size, warnings, reports), reports::add);
                } catch (StrataException e) {
                    throw new ActionFailed(e.kind(), e.getMessage(), reports, true);
                }
            }
            case DELETE -> {
                try {
                    if (!store.delete(name)) {
                        throw new ActionFailed(ErrorKind.ENOENT, null, List.of(), false);
                    }
                } catch (ActionFailed e) {
                    throw e;
                } catch (StrataException e) {
                    throw new ActionFailed(e.kind(), e.getMessage(), List.of(), false);
                }
            }
            default -> throw new IllegalStateException();
        }
    }

    /** blk_truncate to the snapshot's size; its error is reported, the goto fails with its errno. */
    private static void resize(ImageSource source, long size, Consumer<String> warnings, List<String> reports) {
        try {
            ResizeOp.run(new ImageSource(source.fileName(), "qcow2", source.displayName()), new ResizeSize(0, size),
                    Preallocation.OFF, true, warnings, CheckListener.ignoring()); // repaired at the first open
        } catch (StrataException e) {
            reports.add(e.getMessage());
            throw e;
        }
    }

    private static boolean hasName(List<SnapshotInfo> snapshots, String name) {
        for (SnapshotInfo s : snapshots) {
            if (s.name().equals(name)) {
                return true;
            }
        }
        return false;
    }
}
