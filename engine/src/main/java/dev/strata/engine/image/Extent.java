package dev.strata.engine.image;

/**
 * One entry of {@code qemu-img map --output=json}: a guest range with one block status.
 * Semantics are QEMU's: {@code data} (BDRV_BLOCK_DATA), {@code zero} (reads as zeros),
 * {@code present} (allocated in some layer of the chain, BDRV_BLOCK_ALLOCATED), {@code depth}
 * (0 for the top layer; the layer that answered), and {@code offset}/{@code file} when the bytes
 * sit verbatim in a host file (BDRV_BLOCK_OFFSET_VALID).
 *
 * @param offset host offset, or -1 when not valid
 * @param file   host file name as qemu prints it, or null when {@code offset} is not valid
 */
public record Extent(long start, long length, int depth, boolean present, boolean zero, boolean data,
                     boolean compressed, long offset, String file) {

    /** Whether this entry carries a host offset. */
    public boolean hasOffset() {
        return offset >= 0;
    }

    /** End of the guest range (exclusive). */
    public long end() {
        return start + length;
    }

    /**
     * Whether {@code next}, which must start where this ends, can be folded into this entry:
     * qemu-img's {@code entry_mergeable}, i.e. same flags, same depth, same file, and host
     * offsets that continue.
     */
    public boolean mergeableWith(Extent next) {
        if (zero != next.zero || data != next.data || depth != next.depth || present != next.present
                || compressed != next.compressed || hasOffset() != next.hasOffset()) {
            return false;
        }
        if (file == null ? next.file != null : !file.equals(next.file)) {
            return false;
        }
        return !hasOffset() || offset + length == next.offset;
    }

    /** This entry grown by {@code next}'s length (caller checked {@link #mergeableWith}). */
    public Extent extendedBy(Extent next) {
        return new Extent(start, length + next.length, depth, present, zero, data, compressed, offset, file);
    }

    /** The part of this entry in [from, to), with the host offset moved along. */
    public Extent clip(long from, long to) {
        long s = Math.max(start, from);
        long e = Math.min(end(), to);
        long off = hasOffset() ? offset + (s - start) : -1;
        return new Extent(s, e - s, depth, present, zero, data, compressed, off, file);
    }
}
