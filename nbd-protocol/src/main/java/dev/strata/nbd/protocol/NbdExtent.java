package dev.strata.nbd.protocol;

/**
 * One block status descriptor: a run of {@code length} bytes sharing {@code flags}, whose
 * meaning is defined by the metadata context ({@code base:allocation}: {@link NbdConstants#STATE_HOLE}
 * and {@link NbdConstants#STATE_ZERO}; {@code qemu:allocation-depth}: the whole value is a depth;
 * {@code qemu:dirty-bitmap:*}: {@link NbdConstants#STATE_DIRTY}).
 *
 * @param length unsigned 32-bit, never zero
 * @param flags  32-bit status
 */
public record NbdExtent(long length, int flags) {
    /** Wire size of one descriptor. */
    public static final int WIRE_LENGTH = 8;

    public NbdExtent {
        NbdWire.checkU32(length, "extent length");
        if (length == 0) {
            throw new IllegalArgumentException("extent length must not be zero");
        }
    }
}
