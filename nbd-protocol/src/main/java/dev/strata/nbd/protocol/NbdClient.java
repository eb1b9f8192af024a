package dev.strata.nbd.protocol;

import io.netty.buffer.Unpooled;

import java.io.Closeable;
import java.net.SocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * A small blocking NBD client over Netty, for tools and tests: connect to one export, then
 * read, write, query block status, flush, disconnect.
 *
 * <p>Design note: the Netty machinery (one event-loop thread per client, codecs, the
 * request table) is in {@link NbdClientChannel}; the negotiation in {@link NbdClientHandshake};
 * reply bookkeeping in {@link NbdPendingReply}. This class only shapes requests: it checks
 * them against the negotiated export (size, alignment, advertised commands), splits large
 * reads and writes into pipelined requests of at most {@link NbdExportInfo#maximumPayload()},
 * and waits. Methods are thread-safe; every blocking call is bounded by
 * {@link NbdClientOptions#timeout()}, and a timeout, protocol violation or lost connection
 * closes the client for good (later calls throw the same {@link NbdException}). Errors the
 * server reports for a request ({@link NbdCommandException}) leave the connection usable.
 *
 * <p>Transports: TCP ({@link java.net.InetSocketAddress}) and Unix sockets
 * ({@link java.net.UnixDomainSocketAddress} or Netty's {@code DomainSocketAddress}), over epoll
 * when available, NIO otherwise. TLS ({@code nbds}) is not supported.
 */
public final class NbdClient implements Closeable {
    private final NbdClientChannel channel;
    private final NbdExportInfo export;

    private NbdClient(NbdClientChannel channel, NbdExportInfo export) {
        this.channel = channel;
        this.export = export;
    }

    /** Connects to the export named by an NBD URI with {@link NbdClientOptions#defaults()}. */
    public static NbdClient connect(NbdUri uri) throws NbdException {
        return connect(uri, NbdClientOptions.defaults());
    }

    /** Connects to the export named by an NBD URI. */
    public static NbdClient connect(NbdUri uri, NbdClientOptions options) throws NbdException {
        requirePlain(uri);
        return connect(uri.socketAddress(), uri.exportName(), options);
    }

    /**
     * Connects and negotiates: structured replies, the option's meta contexts, then
     * {@code NBD_OPT_GO} with {@code NBD_INFO_BLOCK_SIZE} (or {@code NBD_OPT_EXPORT_NAME} on old servers).
     *
     * @throws NbdOptionException if the server refuses the export (e.g. {@code NBD_REP_ERR_UNKNOWN})
     * @throws NbdException       on connection, timeout or protocol failure
     */
    public static NbdClient connect(SocketAddress address, String exportName, NbdClientOptions options)
            throws NbdException {
        NbdClientChannel channel = NbdClientChannel.connect(address, options.timeout());
        try {
            NbdExportInfo info = NbdClientHandshake.negotiate(channel, exportName, options);
            return new NbdClient(channel, info);
        } catch (NbdException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** {@code NBD_OPT_LIST}: the exports a server offers (name and description). */
    public static List<NbdOptionReply.Server> listExports(SocketAddress address, NbdClientOptions options)
            throws NbdException {
        try (NbdClientChannel channel = NbdClientChannel.connect(address, options.timeout())) {
            return NbdClientHandshake.listExports(channel);
        }
    }

    /** {@code NBD_OPT_LIST_META_CONTEXT}: the contexts matching {@code queries} (all if empty). */
    public static List<String> listMetaContexts(SocketAddress address, String exportName, List<String> queries,
                                                NbdClientOptions options) throws NbdException {
        try (NbdClientChannel channel = NbdClientChannel.connect(address, options.timeout())) {
            return NbdClientHandshake.listMetaContexts(channel, exportName, queries);
        }
    }

    /** What was negotiated: size, flags, block sizes, structured replies, contexts. */
    public NbdExportInfo export() {
        return export;
    }

    /** The export size in bytes. */
    public long size() {
        return export.size();
    }

    /** True until {@link #close()} or a fatal failure. */
    public boolean isOpen() {
        return channel.isOpen();
    }

    /** Reads {@code length} bytes at {@code offset}. */
    public byte[] read(long offset, int length) throws NbdException {
        byte[] bytes = new byte[length];
        read(offset, ByteBuffer.wrap(bytes));
        return bytes;
    }

    /**
     * Reads {@code dst.remaining()} bytes at {@code offset} into {@code dst} and advances its
     * position. Offset and length must be multiples of the minimum block size and inside the export.
     */
    public void read(long offset, ByteBuffer dst) throws NbdException {
        int length = dst.remaining();
        checkRange(offset, length);
        List<NbdPendingReply<Void>> replies = new ArrayList<>();
        int max = export.maximumPayload();
        for (int done = 0; done < length; done += max) {
            int n = Math.min(max, length - done);
            ByteBuffer piece = dst.duplicate();
            piece.position(dst.position() + done).limit(dst.position() + done + n);
            NbdRequest request = new NbdRequest(0, CMD_READ, channel.nextCookie(), offset + done, n);
            replies.add(channel.submit(request, new NbdPendingReply.Read(offset + done, piece)));
        }
        awaitAll(replies);
        dst.position(dst.position() + length);
    }

    /**
     * Writes {@code src.remaining()} bytes at {@code offset} and advances {@code src}'s position.
     *
     * @param fua ask the server to persist before replying ({@code NBD_CMD_FLAG_FUA}); requires {@code SEND_FUA}
     */
    public void write(long offset, ByteBuffer src, boolean fua) throws NbdException {
        int length = src.remaining();
        checkRange(offset, length);
        int flags = fua ? requireFlag(FLAG_SEND_FUA, CMD_FLAG_FUA, "FUA") : 0;
        List<NbdPendingReply<Void>> replies = new ArrayList<>();
        int max = export.maximumPayload();
        for (int done = 0; done < length; done += max) {
            int n = Math.min(max, length - done);
            ByteBuffer piece = src.duplicate();
            piece.position(src.position() + done).limit(src.position() + done + n);
            NbdRequest request = NbdRequest.write(flags, channel.nextCookie(), offset + done, Unpooled.wrappedBuffer(piece));
            replies.add(channel.submit(request, new NbdPendingReply.Plain(CMD_WRITE)));
        }
        awaitAll(replies);
        src.position(src.position() + length);
    }

    /** {@code NBD_CMD_WRITE_ZEROES} with {@code NBD_CMD_FLAG_*} flags (FUA, NO_HOLE, FAST_ZERO). */
    public void writeZeroes(long offset, long length, int flags) throws NbdException {
        requireFlag(FLAG_SEND_WRITE_ZEROES, 0, "NBD_CMD_WRITE_ZEROES");
        simple(CMD_WRITE_ZEROES, flags, offset, length);
    }

    /** {@code NBD_CMD_TRIM}. */
    public void trim(long offset, long length) throws NbdException {
        requireFlag(FLAG_SEND_TRIM, 0, "NBD_CMD_TRIM");
        simple(CMD_TRIM, 0, offset, length);
    }

    /** {@code NBD_CMD_FLUSH}: everything acknowledged so far reaches stable storage. */
    public void flush() throws NbdException {
        requireFlag(FLAG_SEND_FLUSH, 0, "NBD_CMD_FLUSH");
        channel.await(channel.submit(new NbdRequest(0, CMD_FLUSH, channel.nextCookie(), 0, 0),
                new NbdPendingReply.Plain(CMD_FLUSH)));
    }

    /**
     * {@code NBD_CMD_BLOCK_STATUS} for every negotiated context.
     *
     * <p>The server may describe less (or, in the last extent, more) than asked; callers that
     * want a whole range loop from the end of what came back. {@code length} is clamped to 2^31.
     *
     * @param reqOne ask for one extent per context ({@code NBD_CMD_FLAG_REQ_ONE})
     * @return context name to extents starting at {@code offset}, in negotiation order
     * @throws NbdException if no meta context was negotiated
     */
    public Map<String, List<NbdExtent>> blockStatus(long offset, long length, boolean reqOne) throws NbdException {
        if (export.metaContexts().isEmpty()) {
            throw new NbdException("no metadata context was negotiated; block status is unavailable");
        }
        long clamped = Math.min(length, 1L << 31);
        checkRange(offset, clamped);
        NbdRequest request = new NbdRequest(reqOne ? CMD_FLAG_REQ_ONE : 0, CMD_BLOCK_STATUS, channel.nextCookie(),
                offset, clamped);
        return channel.await(channel.submit(request, new NbdPendingReply.Status(export.metaContexts())));
    }

    /** Block status without {@code REQ_ONE}. */
    public Map<String, List<NbdExtent>> blockStatus(long offset, long length) throws NbdException {
        return blockStatus(offset, length, false);
    }

    /** Sends {@code NBD_CMD_DISC} and closes the connection. Idempotent. */
    public void disconnect() throws NbdException {
        try {
            if (channel.isOpen()) {
                channel.sendDisconnect();
            }
        } finally {
            channel.close();
        }
    }

    /** {@link #disconnect()}, ignoring failures. */
    @Override
    public void close() {
        try {
            disconnect();
        } catch (NbdException ignored) {
            // already closed
        }
    }

    private void simple(int command, int flags, long offset, long length) throws NbdException {
        checkRange(offset, length);
        NbdRequest request = new NbdRequest(flags, command, channel.nextCookie(), offset, length);
        channel.await(channel.submit(request, new NbdPendingReply.Plain(command)));
    }

    private void awaitAll(List<NbdPendingReply<Void>> replies) throws NbdException {
        NbdException first = null;
        for (NbdPendingReply<Void> reply : replies) {
            try {
                channel.await(reply);
            } catch (NbdException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    private void checkRange(long offset, long length) {
        long min = export.minimumBlockSize();
        if (offset < 0 || length < 0 || length > 0xffff_ffffL
                || offset > export.size() || length > export.size() - offset) {
            throw new IllegalArgumentException("range [" + offset + ", +" + length + ") is outside the export of "
                    + export.size() + " bytes");
        }
        if (offset % min != 0 || (length % min != 0 && offset + length != export.size())) {
            throw new IllegalArgumentException("range [" + offset + ", +" + length
                    + ") is not aligned to the minimum block size " + min);
        }
    }

    private int requireFlag(int transmissionFlag, int commandFlag, String what) throws NbdException {
        if (!export.hasFlag(transmissionFlag)) {
            throw new NbdException("server does not support " + what);
        }
        return commandFlag;
    }

    private static void requirePlain(NbdUri uri) throws NbdException {
        if (uri.tls()) {
            throw new NbdException("TLS NBD URIs (" + uri.scheme() + ") are not supported by this client");
        }
    }
}
