package dev.strata.daemon.nbd;

import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import dev.strata.nbd.protocol.NbdReplyChunk;
import dev.strata.nbd.protocol.NbdSimpleReply;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.FileRegion;
import io.netty.util.ReferenceCountUtil;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.REPLY_FLAG_DONE;

/**
 * Builds the reply to one {@code NBD_CMD_READ}, on a worker thread, before anything is sent.
 *
 * <p>Design note: the range is cut into pieces by block status (the same extents
 * {@code qemu-img map} shows): ranges that read as zeros become {@code OFFSET_HOLE} chunks (no
 * data sent); ranges stored verbatim in a host file become a chunk header plus a
 * {@link FileRegion} (sendfile); everything else (compressed clusters, backing ranges not mapped
 * to one file, short runs) is read through the engine into one pooled direct buffer per run of
 * adjacent pieces. With {@code NBD_CMD_FLAG_DF} the whole range is one {@code OFFSET_DATA} chunk.
 * Without structured replies the pieces follow one simple reply header back to back, holes as
 * bytes read through the engine. The returned messages are written in order, from one event-loop task.
 *
 * <p>An engine error while building throws before any message exists, so the caller can still
 * send a clean error reply; buffers already filled are released.
 */
final class ReadReply {
    /** Ranges shorter than this are copied: a separate sendfile call costs more than the copy. */
    static final long MIN_SENDFILE = 64 * 1024;

    private ReadReply() {
    }

    /** One piece of the range: a hole, a file region, or bytes to copy. */
    private record Piece(long offset, long length, boolean hole, FileRegion region) {
    }

    /**
     * The messages answering a READ of {@code length} bytes at {@code offset} (already validated).
     *
     * @param files null to never use sendfile
     */
    static List<Object> build(Image image, HostFileRegions files, long cookie, long offset, long length,
                              boolean structured, boolean dontFragment, ByteBufAllocator alloc) {
        List<Object> out = new ArrayList<>();
        if (length == 0) {
            out.add(structured ? new NbdReplyChunk.None(cookie) : new NbdSimpleReply(cookie, 0));
            return out;
        }
        try {
            if (structured && dontFragment) {
                List<Piece> pieces = pieces(image, files, offset, length, false);
                if (pieces.size() == 1 && pieces.get(0).region() != null) {
                    out.add(new NbdReplyChunk.OffsetDataHead(cookie, REPLY_FLAG_DONE, offset, length));
                    out.add(pieces.get(0).region());
                } else {
                    release(pieces);
                    out.add(new NbdReplyChunk.OffsetData(cookie, REPLY_FLAG_DONE, offset, copy(image, offset, length, alloc)));
                }
                return out;
            }
            List<Piece> pieces = pieces(image, files, offset, length, structured);
            if (structured) {
                structuredChunks(image, cookie, pieces, alloc, out);
            } else {
                out.add(new NbdSimpleReply(cookie, 0));
                for (Piece p : pieces) {
                    out.add(p.region() != null ? p.region() : copy(image, p.offset(), p.length(), alloc));
                }
            }
            return out;
        } catch (RuntimeException e) {
            out.forEach(ReferenceCountUtil::safeRelease);
            throw e;
        }
    }

    private static void structuredChunks(Image image, long cookie, List<Piece> pieces, ByteBufAllocator alloc,
                                         List<Object> out) {
        for (int i = 0; i < pieces.size(); i++) {
            Piece p = pieces.get(i);
            int flags = i == pieces.size() - 1 ? REPLY_FLAG_DONE : 0;
            if (p.hole()) {
                out.add(new NbdReplyChunk.OffsetHole(cookie, flags, p.offset(), p.length()));
            } else if (p.region() != null) {
                out.add(new NbdReplyChunk.OffsetDataHead(cookie, flags, p.offset(), p.length()));
                out.add(p.region());
            } else {
                out.add(new NbdReplyChunk.OffsetData(cookie, flags, p.offset(), copy(image, p.offset(), p.length(), alloc)));
            }
        }
    }

    /**
     * The range cut by block status and merged: adjacent holes into one hole, adjacent copies into
     * one copy. With {@code holes} false, zero ranges are copied (simple replies send them as
     * bytes anyway, and the engine fills them cheaply).
     */
    private static List<Piece> pieces(Image image, HostFileRegions files, long offset, long length, boolean holes) {
        List<Piece> pieces = new ArrayList<>();
        try {
            long end = offset + length;
            for (Extent e : image.blockStatus(offset, length)) {
                long s = Math.max(e.start(), offset);
                long n = Math.min(e.end(), end) - s;
                if (n <= 0) {
                    continue;
                }
                if (e.zero()) {
                    if (holes) {
                        add(pieces, new Piece(s, n, true, null));
                    } else {
                        add(pieces, new Piece(s, n, false, null));
                    }
                    continue;
                }
                FileRegion region = files != null && n >= MIN_SENDFILE ? files.regionFor(e, s, n) : null;
                add(pieces, new Piece(s, n, false, region));
            }
        } catch (RuntimeException e) {
            release(pieces);
            throw e;
        }
        if (pieces.isEmpty()) {
            pieces.add(new Piece(offset, length, false, null));
        }
        return pieces;
    }

    private static void add(List<Piece> pieces, Piece p) {
        if (!pieces.isEmpty() && p.region() == null) {
            Piece last = pieces.get(pieces.size() - 1);
            if (last.region() == null && last.hole() == p.hole() && last.offset() + last.length() == p.offset()) {
                pieces.set(pieces.size() - 1, new Piece(last.offset(), last.length() + p.length(), p.hole(), null));
                return;
            }
        }
        pieces.add(p);
    }

    private static void release(List<Piece> pieces) {
        for (Piece p : pieces) {
            if (p.region() != null) {
                ReferenceCountUtil.safeRelease(p.region());
            }
        }
    }

    /** Reads [offset, offset+length) through the engine into a new direct buffer. */
    static ByteBuf copy(Image image, long offset, long length, ByteBufAllocator alloc) {
        int n = Math.toIntExact(length);
        ByteBuf buf = alloc.directBuffer(n, n);
        try {
            ByteBuffer dst = buf.nioBuffer(0, n);
            image.read(dst, offset);
            buf.writerIndex(n);
            return buf;
        } catch (RuntimeException e) {
            buf.release();
            throw e;
        }
    }
}
