package dev.strata.engine.format;

/**
 * How to open an image chain.
 *
 * @param readOnly    open every layer without write access
 * @param forceShare  qemu's -U/--force-share: do not take (or respect) image locks
 * @param noBacking   open the top layer only (qemu's backing=null / -u paths)
 */
public record OpenOptions(boolean readOnly, boolean forceShare, boolean noBacking) {
    /** Read-only, respecting locks, whole chain. */
    public static OpenOptions readOnlyChain() {
        return new OpenOptions(true, false, false);
    }

    /** The same options with {@code forceShare} set as given. */
    public OpenOptions withForceShare(boolean share) {
        return new OpenOptions(readOnly, share, noBacking);
    }
}
