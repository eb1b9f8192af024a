package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;

import java.nio.ByteBuffer;
import java.util.Map;
import java.util.TreeMap;

/**
 * Puts the content chunks of one structured READ reply (or the data of a simple reply) into
 * the caller's buffer.
 *
 * <p>Design note: chunks may arrive in any order; each must lie inside the request and must
 * not overlap an earlier one (spec: the client may treat either as a protocol error, and we
 * do). Covered ranges are kept in a {@link TreeMap} keyed by start, so the overlap check and the
 * final "everything covered?" check are cheap. Holes are written as zeroes, so the target
 * buffer need not be zeroed beforehand.
 */
final class NbdReadAssembly {
    private static final byte[] ZEROES = new byte[64 * 1024];

    private final long offset;
    private final long length;
    private final ByteBuffer target;
    private final int base;
    private final TreeMap<Long, Long> covered = new TreeMap<>();
    private long coveredBytes;

    /** @param target receives {@code target.remaining()} bytes starting at export offset {@code offset} */
    NbdReadAssembly(long offset, ByteBuffer target) {
        this.offset = offset;
        this.length = target.remaining();
        this.target = target;
        this.base = target.position();
    }

    long length() {
        return length;
    }

    /** An {@code OFFSET_DATA} chunk (or simple-reply data at the request offset). */
    void data(long chunkOffset, ByteBuf data) {
        int n = data.readableBytes();
        int at = claim(chunkOffset, n, "data");
        ByteBuffer dst = target.duplicate();
        dst.limit(base + at + n).position(base + at);
        data.getBytes(data.readerIndex(), dst);
    }

    /** An {@code OFFSET_HOLE} chunk. */
    void hole(long chunkOffset, long size) {
        int at = claim(chunkOffset, size, "hole");
        ByteBuffer dst = target.duplicate();
        dst.limit((int) (base + at + size)).position(base + at);
        while (dst.hasRemaining()) {
            dst.put(ZEROES, 0, Math.min(ZEROES.length, dst.remaining()));
        }
    }

    /** True once every byte of the request was delivered. */
    boolean complete() {
        return coveredBytes == length;
    }

    private int claim(long chunkOffset, long size, String what) {
        long rel = chunkOffset - offset;
        if (rel < 0 || size > length || rel > length - size) {
            throw new NbdProtocolException("read reply " + what + " chunk [" + chunkOffset + ", +" + size
                    + ") lies outside the request [" + offset + ", +" + length + ")");
        }
        long end = rel + size;
        Map.Entry<Long, Long> before = covered.floorEntry(rel);
        Map.Entry<Long, Long> after = covered.ceilingEntry(rel);
        if ((before != null && before.getValue() > rel) || (after != null && after.getKey() < end)) {
            throw new NbdProtocolException("read reply " + what + " chunk at " + chunkOffset + " overlaps an earlier chunk");
        }
        covered.put(rel, end);
        coveredBytes += size;
        return (int) rel;
    }
}
