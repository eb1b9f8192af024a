package dev.strata.engine.ops.dd;

/**
 * What {@code qemu-img dd} copies, computed exactly as qemu-img 7.2's {@code img_dd} does from
 * the input size and the operands: {@code count} first caps the input at {@code count * bs}
 * bytes, then {@code skip} blocks are skipped from the start of that capped input (so the
 * output is {@code min(size, count * bs) - skip * bs} bytes, qemu's own arithmetic). A skip
 * past the end gives an empty output and qemu's warning.
 *
 * @param inputStart  guest offset of the first input byte copied
 * @param inputEnd    guest offset after the last input byte copied (the capped input size)
 * @param outputSize  size of the output image to create
 * @param skipPastEnd whether skip lies beyond the (capped) input: qemu warns
 *                    "NAME: cannot skip to specified offset" and copies nothing
 */
public record DdGeometry(long inputStart, long inputEnd, long outputSize, boolean skipPastEnd) {

    /**
     * The copy of an input of {@code inputSize} bytes.
     *
     * @param blockSize bs, in [1, INT_MAX]
     * @param count     count in blocks, or -1 when not given
     * @param skip      skip in blocks, or -1 when not given
     */
    public static DdGeometry of(long inputSize, int blockSize, long count, long skip) {
        long size = inputSize;
        if (count >= 0 && count <= Long.MAX_VALUE / blockSize && count * blockSize < size) {
            size = count * blockSize;
        }
        long skipBlocks = Math.max(skip, 0);
        if (skip >= 0 && (skipBlocks > Long.MAX_VALUE / blockSize || size < skipBlocks * blockSize)) {
            return new DdGeometry(size, size, 0, true);
        }
        long start = skipBlocks * blockSize;
        return new DdGeometry(start, size, size - start, false);
    }
}
