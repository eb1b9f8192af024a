package dev.strata.cli.nbd;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;
import dev.strata.nbd.protocol.NbdClient;
import dev.strata.nbd.protocol.NbdClientOptions;
import dev.strata.nbd.protocol.NbdConstants;
import dev.strata.nbd.protocol.NbdException;
import dev.strata.nbd.protocol.NbdExtent;
import dev.strata.nbd.protocol.NbdOptionException;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * {@link Storage} over one NBD export, read-only, as QEMU's nbd protocol driver sees it.
 *
 * <p>Design note: block status follows block/nbd.c nbd_client_co_block_status: one
 * {@code base:allocation} extent per query ({@code REQ_ONE}); HOLE clear means DATA, ZERO means
 * ZERO; a server without the context makes everything DATA. Reads that are not aligned to the
 * export's minimum block size are widened and copied. "disk size" is unknown (qemu prints
 * "unavailable"). Connection and negotiation failures carry qemu's wording.
 */
public final class NbdStorage implements Storage {
    /** Bound on connecting and on every request, so a dead server never hangs strata-img. */
    static final Duration TIMEOUT = Duration.ofSeconds(
            Long.getLong("strata.nbd.timeout-seconds", 30L));

    private final NbdClient client;
    private final String name;

    private NbdStorage(NbdClient client, String name) {
        this.client = client;
        this.name = name;
    }

    /**
     * Connects to the export {@code url} names.
     *
     * @throws StrataException with qemu's message ("Failed to connect to '...': Connection
     *         refused", "Requested export not available", ...), without "Could not open"
     */
    public static NbdStorage open(NbdUrl url, boolean readOnly) {
        SocketAddress address = address(url);
        NbdClientOptions options = NbdClientOptions.defaults().withTimeout(TIMEOUT);
        try {
            return new NbdStorage(NbdClient.connect(address, url.exportName(), options), url.filename());
        } catch (NbdOptionException e) {
            throw negotiationFailure(e);
        } catch (NbdException e) {
            if (e.getMessage() != null && e.getMessage().startsWith("cannot connect to ")) {
                throw connectFailure(url, e);
            }
            if (e.getMessage() != null && e.getMessage().startsWith("timed out connecting")) {
                throw new StrataException(ErrorKind.EIO,
                        "Failed to connect to '" + url.peer() + "': Connection timed out", e);
            }
            throw new StrataException(ErrorKind.EIO, e.getMessage(), e);
        }
    }

    private static SocketAddress address(NbdUrl url) {
        if (url.isUnix()) {
            if (!Files.exists(Path.of(url.socketPath()))) {
                throw new StrataException(ErrorKind.ENOENT,
                        "Failed to connect to '" + url.socketPath() + "': No such file or directory");
            }
            return url.toUri().socketAddress();
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(url.host()), url.port());
        } catch (UnknownHostException e) {
            throw new StrataException(ErrorKind.EIO, "address resolution failed for " + url.peer()
                    + ": Name or service not known", e);
        }
    }

    private static StrataException connectFailure(NbdUrl url, NbdException e) {
        String reason = "Connection refused";
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage());
            if (m.contains("No such file or directory")) {
                reason = "No such file or directory";
            } else if (m.contains("Permission denied")) {
                reason = "Permission denied";
            } else if (m.contains("No route to host")) {
                reason = "No route to host";
            } else if (m.contains("Network is unreachable")) {
                reason = "Network is unreachable";
            } else if (m.contains("timed out")) {
                reason = "Connection timed out";
            } else {
                continue;
            }
            break;
        }
        return new StrataException(ErrorKind.EIO, "Failed to connect to '" + url.peer() + "': " + reason, e);
    }

    /** block/nbd-client's nbd_handle_reply_err wording; the server's text follows as qemu's hint. */
    private static StrataException negotiationFailure(NbdOptionException e) {
        String message;
        int type = e.replyType();
        if (type == NbdConstants.REP_ERR_UNKNOWN) {
            message = "Requested export not available";
        } else if (type == NbdConstants.REP_ERR_POLICY) {
            message = "Requested option denied by server policy";
        } else {
            message = e.getMessage();
        }
        if (!e.serverMessage().isEmpty()) {
            message += "\nserver reported: " + e.serverMessage();
        }
        return new StrataException(ErrorKind.EIO, message, e);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long size() {
        return client.size();
    }

    /** Unknown over NBD: qemu-img info prints "disk size: unavailable". */
    @Override
    public long allocatedSize() {
        return -1;
    }

    @Override
    public boolean isReadOnly() {
        return true;
    }

    @Override
    public void read(ByteBuffer dst, long offset) {
        long size = size();
        int inside = (int) Math.max(0, Math.min(dst.remaining(), size - offset));
        try {
            if (inside > 0) {
                long min = client.export().minimumBlockSize();
                long start = offset - offset % min;
                long end = Math.min(size, ((offset + inside + min - 1) / min) * min);
                if (start == offset && (end == offset + inside)) {
                    ByteBuffer part = dst.slice(dst.position(), inside);
                    client.read(offset, part);
                } else {
                    ByteBuffer wide = ByteBuffer.allocate((int) (end - start));
                    client.read(start, wide);
                    dst.put(dst.position(), wide, (int) (offset - start), inside);
                }
            }
        } catch (NbdException e) {
            throw StrataException.io("error reading " + name + " at offset " + offset + ": " + e.getMessage());
        }
        dst.position(dst.position() + inside);
        while (dst.hasRemaining()) {
            dst.put((byte) 0);
        }
    }

    @Override
    public void write(ByteBuffer src, long offset) {
        throw readOnly();
    }

    @Override
    public void flush() {
        // read-only: nothing to make durable
    }

    @Override
    public void truncate(long size) {
        throw readOnly();
    }

    @Override
    public Allocation allocationAt(long offset, long maxLength) {
        long size = size();
        if (offset >= size) {
            return new Allocation(false, true, maxLength);
        }
        long len = Math.min(maxLength, size - offset);
        long min = client.export().minimumBlockSize();
        if (client.export().metaContexts().isEmpty() || offset % min != 0) {
            return new Allocation(true, false, len);
        }
        long ask = Math.min(len, 1L << 30);
        if (ask % min != 0 && offset + ask != size) {
            ask -= ask % min;
            if (ask == 0) {
                return new Allocation(true, false, len);
            }
        }
        try {
            Map<String, List<NbdExtent>> status = client.blockStatus(offset, ask, true);
            List<NbdExtent> extents = status.get(NbdConstants.CONTEXT_BASE_ALLOCATION);
            if (extents == null || extents.isEmpty() || extents.get(0).length() <= 0) {
                return new Allocation(true, false, len);
            }
            NbdExtent e = extents.get(0);
            boolean hole = (e.flags() & NbdConstants.STATE_HOLE) != 0;
            boolean zero = (e.flags() & NbdConstants.STATE_ZERO) != 0;
            return new Allocation(!hole, zero, Math.min(len, e.length()));
        } catch (NbdException e) {
            throw StrataException.io("error querying block status of " + name + " at offset " + offset + ": "
                    + e.getMessage());
        }
    }

    @Override
    public void close() {
        client.close();
    }

    private StrataException readOnly() {
        return new StrataException(ErrorKind.EPERM, "NBD export " + name + " is open read-only");
    }
}
