package dev.strata.engine.ops.check;

/*
 * Design note: the entry point of `check`. qemu-img check opens the image (and its backing
 * chain) read-only with BDRV_O_CHECK and then runs the format's checker; formats without one
 * make it say "This image format does not support checks" (exit 63) after a successful open.
 *
 * Opening goes through the normal ChainOpener so every open error is the one the other verbs
 * report. Check mode differs from a normal qcow2 open in a few places, which are handled here:
 *  - qemu skips the snapshot table and accepts a missing refcount table in check mode (the
 *    checker reports them instead): if the normal open fails and the image opens in check mode,
 *    the check runs on the file alone;
 *  - encrypted images need their key (qemu opens them for I/O; we take no secrets);
 *  - an external data file must open (the read driver defers that error to the first read).
 *
 * With -r (repair), qemu opens the image read-write: a format probed as raw then warns, and the
 * qcow2 repair (Qcow2Repair) writes through the file opened read-write, inside what qemu's
 * read-write open and close do (Qcow2RepairRun: header update, persistent bitmaps marked in_use,
 * stored again at the close). When the repair fixed something qemu-img checks again before it
 * closes the image, and it prints the outcome before the close: the caller's CheckSteps are told
 * at those moments.
 *
 * What the opens print (the stale-bitmaps warning of each qcow2 layer, Qcow2OpenHeader) goes to
 * the check's listener, as qemu prints it before the check's own lines. When the strict open
 * fails and the check goes on in check mode, the warning is printed there unless the strict open
 * got far enough to print it.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.FormatFactory;
import dev.strata.engine.format.FormatRegistry;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.format.qcow2.Qcow2BitmapDirectory;
import dev.strata.engine.format.qcow2.Qcow2Format;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.format.qcow2.Qcow2OpenHeader;
import dev.strata.engine.format.qcow2.Qcow2SnapshotTable;
import dev.strata.engine.format.qcow2.check.Qcow2Checker;
import dev.strata.engine.format.qcow2.check.RepairMode;
import dev.strata.engine.format.raw.RawFormat;
import dev.strata.engine.format.raw.RawProbeWarning;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Layer;
import dev.strata.engine.ops.info.ImageSource;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.Storage;

/** Consistency check of an image (qemu-img check without -r). */
public final class CheckOp {
    private CheckOp() {
    }

    /**
     * Opens {@code source} as qemu-img check does and checks it.
     *
     * @param forceShare qemu's -U
     * @param out        receives the checker's diagnostics as they are found
     * @return the outcome; the report carries the source's display name (qemu prints the
     *         command-line argument) and the format name
     * @throws StrataException when the image cannot be opened, with qemu-img's complete message
     *         ("Could not open 'NAME': ...")
     */
    public static CheckOutcome run(ImageSource source, boolean forceShare, CheckListener out) {
        return run(source, forceShare, null, out, CheckSteps.silent());
    }

    /**
     * Opens {@code source} as qemu-img check does and checks it, repairing what {@code repair}
     * allows (null: check only). When the repair fixed leaks or corruptions, qemu-img checks the
     * image again before closing it; the outcome is then the second check's, carrying the first
     * pass's fixed counts.
     *
     * @param steps told the repair notice and the outcome while the image is still open (what
     *              closing it prints comes after)
     * @return the outcome (the one told to {@code steps}); inconsistencies strata cannot repair
     *         yet end the repair as aborted (ENOTSUP) with the image left as it was
     * @throws StrataException as {@link #run(ImageSource, boolean, CheckListener)}
     */
    public static CheckOutcome run(ImageSource source, boolean forceShare, RepairMode repair, CheckListener out,
                                   CheckSteps steps) {
        ReportOnce report = new ReportOnce(steps, source.displayName());
        CheckOutcome outcome;
        try {
            outcome = open(source.fileName(), source.format(), forceShare, repair, out, report);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(source.displayName(), e), e);
        }
        return report.finish(outcome);
    }

    private static CheckOutcome open(String fileName, String format, boolean forceShare, RepairMode repair,
                                     CheckListener out, ReportOnce report) {
        ChainOpener opener = ChainOpener.standard();
        PrintWatch printed = new PrintWatch(out);
        Layer top;
        try {
            // with -r qemu opens the image read-write: its lock claim is a writer's from the start
            top = opener.openLayer(fileName, format, new OpenOptions(true, forceShare, true).withDiagnostics(printed),
                    repair != null);
        } catch (StrataException e) {
            return checkAfterStrictOpenFailed(fileName, format, forceShare, repair, e, printed.any, out, report);
        }
        FormatDriver driver = top.driver();
        if (!Qcow2Format.NAME.equals(driver.formatName())) {
            // qemu opens the whole chain before it finds out that the format has no checks; the
            // probe's layer is closed first (an NBD server may allow one connection only)
            String formatName = driver.formatName();
            if (repair != null && top.probed() && RawFormat.NAME.equals(formatName)) {
                out.raw(RawProbeWarning.text(fileName));
            }
            driver.close();
            opener.open(fileName, format, new OpenOptions(true, forceShare, false).withDiagnostics(out)).close();
            return new CheckOutcome.Unsupported(formatName);
        }
        try {
            Qcow2Header header = Qcow2Header.parse(driver.file(), true);
            requireOpenableForIo(header, driver.storages().size() > 1);
            openBackingChain(fileName, header, forceShare, out);
            return checkOrRepair(fileName, driver.file(), repair, out, report);
        } finally {
            driver.close();
        }
    }

    /**
     * The normal open failed: if the image is qcow2 and fails only where check mode is lenient
     * (refcount table, snapshot table), check it anyway; otherwise report the open failure.
     */
    private static CheckOutcome checkAfterStrictOpenFailed(String fileName, String format, boolean forceShare,
                                                           RepairMode repair, StrataException failure,
                                                           boolean warned, CheckListener out,
                                                           ReportOnce report) {
        if (failure.kind() == ErrorKind.EBUSY) {
            throw failure; // the image is locked by another program: nothing is read
        }
        Storage file;
        try {
            file = FileStorage.open(fileName, true);
        } catch (StrataException e) {
            throw failure;
        }
        try (file) {
            FormatFactory factory = format != null ? FormatRegistry.standard().require(format)
                    : FormatRegistry.standard().probe(file);
            if (!Qcow2Format.NAME.equals(factory.name())) {
                throw failure;
            }
            file.lock(ChainOpener.lockFor(factory, new OpenOptions(repair == null, forceShare, true)));
            Qcow2Header header = Qcow2Header.parse(file, true); // check mode's own open error first
            if (!lenientInCheckMode(file)) {
                throw failure;
            }
            if (!warned) {
                Qcow2OpenHeader.warnAboutStaleBitmaps(header, out);
            }
            requireOpenableForIo(header, false);
            Qcow2BitmapDirectory.parse(file, header).checkTables(file, header.clusterSize(), header.virtualSize());
            openBackingChain(fileName, header, forceShare, out);
            return checkOrRepair(fileName, file, repair, out, report);
        }
    }

    /** The plain check on {@code file}, or qemu-img check -r from the repair to the close. */
    private static CheckOutcome checkOrRepair(String fileName, Storage file, RepairMode repair, CheckListener out,
                                              ReportOnce report) {
        if (repair == null) {
            return Qcow2Checker.check(file, out);
        }
        return Qcow2RepairRun.run(fileName, repair, out, report);
    }

    /** qemu opens the backing chain after the image itself; a failure fails the check's open. */
    private static void openBackingChain(String fileName, Qcow2Header header, boolean forceShare, CheckListener out) {
        if (header.backingFileName() == null || header.backingFileName().isEmpty()) {
            return; // qemu opens no backing file for an empty name
        }
        String name = PathNames.combine(fileName, header.backingFileName());
        try {
            ChainOpener.standard().open(name, header.backingFormat(),
                    new OpenOptions(true, forceShare, false).withDiagnostics(out)).close();
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Could not open backing file: " + e.getMessage(), e);
        }
    }

    /** Whether the strict open of this qcow2 file fails only for reasons check mode skips. */
    private static boolean lenientInCheckMode(Storage file) {
        try {
            Qcow2Header.parse(file, true);
        } catch (StrataException e) {
            return false; // fails in check mode too
        }
        Qcow2Header strict;
        try {
            strict = Qcow2Header.parse(file, false);
        } catch (StrataException e) {
            return true; // refcount table or snapshot table pointer: the checker reports them
        }
        try {
            Qcow2SnapshotTable.parse(file, strict.snapshotsOffset(), strict.nbSnapshots());
        } catch (StrataException e) {
            return true; // broken snapshot table: read (and reported) by the checker
        }
        return false;
    }

    /**
     * The parts of qemu's open that need I/O access: the encryption key, and the external data
     * file (opened relative to the current directory, as qemu-img 7.2 does).
     */
    private static void requireOpenableForIo(Qcow2Header header, boolean dataFileOpen) {
        boolean luksHeader = header.cryptMethod() == 2 && header.cryptoHeader() != null;
        if (luksHeader) {
            throw keyRequired(); // qemu opens the LUKS header while it reads the extensions
        }
        if (header.hasDataFile() && !dataFileOpen) {
            FileStorage.open(header.dataFileName(), true).close();
        }
        if (header.cryptMethod() == 2) {
            throw new StrataException(ErrorKind.EINVAL, "Missing CRYPTO header for crypt method 2");
        }
        if (header.cryptMethod() != 0) {
            throw keyRequired();
        }
    }

    private static StrataException keyRequired() {
        return new StrataException(ErrorKind.EINVAL, "Parameter 'encrypt.key-secret' is required for cipher");
    }

    /** Passes an open's diagnostics on and notes whether there were any. */
    private static final class PrintWatch implements CheckListener {
        private final CheckListener out;
        private boolean any;

        PrintWatch(CheckListener out) {
            this.out = out;
        }

        @Override
        public void line(String text) {
            any = true;
            out.line(text);
        }

        @Override
        public void error(String message) {
            any = true;
            out.error(message);
        }

        @Override
        public void raw(String text) {
            any = true;
            out.raw(text);
        }
    }
}
