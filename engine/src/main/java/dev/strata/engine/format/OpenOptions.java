package dev.strata.engine.format;

import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.storage.CacheMode;

import java.util.Objects;

/**
 * How to open an image chain.
 *
 * @param readOnly           open every layer without write access
 * @param forceShare         qemu's -U/--force-share: do not take (or respect) image locks
 * @param noBacking          open the top layer only (qemu's backing=null / -u paths)
 * @param noIo               metadata only, qemu's BDRV_O_NO_IO (what {@code qemu-img info} uses):
 *                           the caller promises not to read guest data, so drivers skip whatever
 *                           only data I/O needs and whose absence would otherwise fail the open
 *                           (a qcow2 external data file, the key of an encrypted image). Mapping
 *                           may still work from metadata; reads of guest data may fail.
 * @param corruptionListener told when a driver finds inconsistent metadata while serving a
 *                           request ({@link CorruptionListener#IGNORE} by default)
 * @param cache              which flushes a writable layer honours (qemu's -t); writeback by default
 * @param diagnostics        where the open itself prints what qemu's open prints on stderr, in the
 *                           order it prints it: a qcow2 layer's warning about a bitmaps extension
 *                           its autoclear bit does not vouch for (on every open, backing files
 *                           included: warn_report plus a hint without a trailing newline), and the
 *                           repair of a dirty qcow2 image opened read-write (qcow2_do_open's check,
 *                           whose lines are check -r's: "Leaked cluster ...", "Repairing cluster
 *                           ...", error_report messages). Called on the opening thread, before the
 *                           open returns or fails. Ignored by default.
 * @param reopen             the operation held this layer open already and opens it again where
 *                           qemu reopens its node (bdrv_reopen, e.g. commit's base made writable):
 *                           what qemu does only when it first opens a node is not done again (the
 *                           stale-bitmaps warning, the header update of a writable open)
 */
public record OpenOptions(boolean readOnly, boolean forceShare, boolean noBacking, boolean noIo,
                          CorruptionListener corruptionListener, CacheMode cache, CheckListener diagnostics,
                          boolean reopen) {

    /** The default diagnostics: dropped. One instance, so equal options stay equal. */
    private static final CheckListener SILENT = CheckListener.ignoring();

    public OpenOptions {
        Objects.requireNonNull(corruptionListener, "corruptionListener");
        Objects.requireNonNull(cache, "cache");
        Objects.requireNonNull(diagnostics, "diagnostics");
    }

    /** Options whose diagnostics are dropped. */
    public OpenOptions(boolean readOnly, boolean forceShare, boolean noBacking, boolean noIo,
                       CorruptionListener corruptionListener, CacheMode cache) {
        this(readOnly, forceShare, noBacking, noIo, corruptionListener, cache, SILENT, false);
    }

    /** Options with the writeback cache mode. */
    public OpenOptions(boolean readOnly, boolean forceShare, boolean noBacking, boolean noIo,
                       CorruptionListener corruptionListener) {
        this(readOnly, forceShare, noBacking, noIo, corruptionListener, CacheMode.WRITEBACK);
    }

    /** Options for I/O (not {@code noIo}) whose corruption events are ignored. */
    public OpenOptions(boolean readOnly, boolean forceShare, boolean noBacking) {
        this(readOnly, forceShare, noBacking, false, CorruptionListener.IGNORE);
    }

    /** Read-only, respecting locks, whole chain, for I/O. */
    public static OpenOptions readOnlyChain() {
        return new OpenOptions(true, false, false);
    }

    /** The same options with {@code forceShare} set as given. */
    public OpenOptions withForceShare(boolean share) {
        return new OpenOptions(readOnly, share, noBacking, noIo, corruptionListener, cache, diagnostics, reopen);
    }

    /** The same options with {@code noBacking} set as given. */
    public OpenOptions withNoBacking(boolean value) {
        return new OpenOptions(readOnly, forceShare, value, noIo, corruptionListener, cache, diagnostics, reopen);
    }

    /** The same options with {@code noIo} (metadata only) set as given. */
    public OpenOptions withNoIo(boolean value) {
        return new OpenOptions(readOnly, forceShare, noBacking, value, corruptionListener, cache, diagnostics, reopen);
    }

    /** The same options reporting corruption events to {@code listener}. */
    public OpenOptions withCorruptionListener(CorruptionListener listener) {
        return new OpenOptions(readOnly, forceShare, noBacking, noIo, listener, cache, diagnostics, reopen);
    }

    /** The same options with {@code readOnly} set as given. */
    public OpenOptions withReadOnly(boolean value) {
        return new OpenOptions(value, forceShare, noBacking, noIo, corruptionListener, cache, diagnostics, reopen);
    }

    /** The same options with cache mode {@code mode}. */
    public OpenOptions withCache(CacheMode mode) {
        return new OpenOptions(readOnly, forceShare, noBacking, noIo, corruptionListener, mode, diagnostics, reopen);
    }

    /** The same options with {@code reopen} set as given. */
    public OpenOptions withReopen(boolean value) {
        return new OpenOptions(readOnly, forceShare, noBacking, noIo, corruptionListener, cache, diagnostics, value);
    }

    /** The same options printing the open's own diagnostics to {@code listener}. */
    public OpenOptions withDiagnostics(CheckListener listener) {
        return new OpenOptions(readOnly, forceShare, noBacking, noIo, corruptionListener, cache, listener, reopen);
    }
}
