package dev.strata.daemon.nbd;

import dev.strata.daemon.Log;
import dev.strata.daemon.export.Export;
import dev.strata.engine.StrataException;
import dev.strata.nbd.protocol.NbdBadMagicException;
import dev.strata.nbd.protocol.NbdOversizedWrite;
import dev.strata.nbd.protocol.NbdReplyChunk;
import dev.strata.nbd.protocol.NbdRequest;
import dev.strata.nbd.protocol.NbdSimpleReply;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.util.ReferenceCountUtil;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * The transmission phase of one connection: validates each request, runs READ and BLOCK_STATUS on
 * the engine in the worker pool (never on the event loop), and writes each reply when its work is
 * done, so replies leave in completion order (any order is allowed; the cookie pairs them).
 *
 * <p>Validation follows QEMU's order (nbd_co_receive_request): an over-long READ/WRITE is EINVAL
 * (EOVERFLOW for a READ with DF, the one case the spec documents it for); WRITE, WRITE_ZEROES and
 * TRIM on a read-only export are EPERM; a range past the end is EINVAL; flags a command does not
 * take are EINVAL; an unknown command is EINVAL; BLOCK_STATUS without a selected context or with
 * length 0 is EINVAL. A bad request magic closes the connection (the stream is out of step).
 *
 * <p>Flow control: at most {@value #MAX_IN_FLIGHT} requests run at once per connection; requests
 * that arrive beyond that wait in a queue and the handler stops reading from the socket (Netty
 * auto-read off) until the count drops, and also while the channel is not writable (the client
 * reads its replies slowly). So one connection never holds more than
 * {@code MAX_IN_FLIGHT x 32 MiB} of reply data, and TCP pushes back on the client.
 *
 * <p>State is touched only on the event loop; worker tasks get their inputs as arguments and
 * hand their messages back to the event loop.
 */
final class TransmissionHandler extends ChannelInboundHandlerAdapter {
    /** Requests running at once per connection. */
    static final int MAX_IN_FLIGHT = 32;
    /** Largest READ/WRITE payload (advertised in NBD_INFO_BLOCK_SIZE). */
    static final long MAX_PAYLOAD = DEFAULT_MAX_PAYLOAD;

    private final NbdSession session;
    private final Export export;
    private final HostFileRegions files;
    private final Executor workers;
    private final ArrayDeque<NbdRequest> waiting = new ArrayDeque<>();
    private ChannelHandlerContext ctx;
    private int inFlight;
    private boolean disconnecting;

    TransmissionHandler(NbdSession session, HostFileRegions files, Executor workers) {
        this.session = session;
        this.export = session.export();
        this.files = files;
        this.workers = workers;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (disconnecting) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof NbdOversizedWrite w) {
            // The decoder is discarding the payload; answer and go on.
            sendError(w.cookie(), EINVAL, "write of " + w.length() + " bytes is over the maximum payload of " + MAX_PAYLOAD);
            return;
        }
        if (!(msg instanceof NbdRequest)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        NbdRequest r = (NbdRequest) msg;
        if (inFlight >= MAX_IN_FLIGHT || !waiting.isEmpty()) {
            waiting.add(r);
            updateReading();
            return;
        }
        handle(r);
    }

    private void handle(NbdRequest r) {
        try {
            if (r.type() == CMD_DISC) {
                Log.info(session.peer() + ": NBD_CMD_DISC");
                disconnecting = true;
                releaseWaiting();
                updateReading();
                closeIfDone();
                return;
            }
            String problem = validate(r);
            if (problem != null) {
                int errno = errnoFor(r);
                Log.info(session.peer() + ": " + r.commandName() + " refused: " + problem);
                sendError(r.cookie(), errno, problem);
                return;
            }
            switch (r.type()) {
                case CMD_READ:
                    submit(r.cookie(), () -> ReadReply.build(export.image(), files, r.cookie(), r.offset(), r.length(),
                            session.structuredReplies(), r.hasFlag(CMD_FLAG_DF), ctx.alloc()));
                    break;
                case CMD_BLOCK_STATUS:
                    List<MetaContext> contexts = session.metaContexts();
                    submit(r.cookie(), () -> BlockStatusReply.build(export.image(), contexts, r.cookie(), r.offset(),
                            r.length(), r.hasFlag(CMD_FLAG_REQ_ONE)));
                    break;
                case CMD_FLUSH:
                case CMD_CACHE:
                default:
                    // Nothing is ever written, so there is nothing to flush; CACHE is advisory.
                    ctx.writeAndFlush(new NbdSimpleReply(r.cookie(), 0), ctx.voidPromise());
                    break;
            }
        } finally {
            r.release();
        }
    }

    /** Why {@code r} must be refused, or null if it is fine. */
    private String validate(NbdRequest r) {
        int type = r.type();
        long length = r.length();
        if ((type == CMD_READ || type == CMD_WRITE) && length > MAX_PAYLOAD) {
            return "length " + length + " is larger than the maximum payload " + MAX_PAYLOAD;
        }
        boolean writeKind = type == CMD_WRITE || type == CMD_WRITE_ZEROES || type == CMD_TRIM;
        if (writeKind && !export.capabilities().canWrite()) {
            return "export is read-only";
        }
        if (writeKind || !(type == CMD_READ || type == CMD_FLUSH || type == CMD_CACHE || type == CMD_BLOCK_STATUS)) {
            return writeKind ? "command not supported" : "unsupported command " + type;
        }
        long size = export.size();
        if (type != CMD_FLUSH && (Long.compareUnsigned(r.offset(), size) > 0 || length > size - r.offset())) {
            return "operation past the end of the export: offset " + Long.toUnsignedString(r.offset())
                    + ", length " + length + ", size " + size;
        }
        int valid = CMD_FLAG_FUA;
        if (type == CMD_READ && session.structuredReplies()) {
            valid |= CMD_FLAG_DF;
        }
        if (type == CMD_BLOCK_STATUS) {
            valid |= CMD_FLAG_REQ_ONE;
        }
        if ((r.flags() & ~valid) != 0) {
            return "unsupported flags 0x" + Integer.toHexString(r.flags() & ~valid);
        }
        if (type == CMD_BLOCK_STATUS) {
            if (!session.structuredReplies() || session.metaContexts().isEmpty()) {
                return "no metadata context was selected";
            }
            if (length == 0) {
                return "block status needs a non-zero length";
            }
        }
        return null;
    }

    /** The error number for a request {@link #validate} refused. */
    private int errnoFor(NbdRequest r) {
        int type = r.type();
        if (type == CMD_READ && r.length() > MAX_PAYLOAD && r.hasFlag(CMD_FLAG_DF) && session.structuredReplies()) {
            return EOVERFLOW;
        }
        boolean writeKind = type == CMD_WRITE || type == CMD_WRITE_ZEROES || type == CMD_TRIM;
        if (writeKind && !(type == CMD_WRITE && r.length() > MAX_PAYLOAD) && !export.capabilities().canWrite()) {
            return EPERM;
        }
        return EINVAL;
    }

    /** A task producing the messages of one reply. */
    private interface ReplyWork {
        List<Object> run();
    }

    private void submit(long cookie, ReplyWork work) {
        inFlight++;
        try {
            workers.execute(() -> {
                List<Object> messages = null;
                int errno = 0;
                String message = null;
                try {
                    messages = work.run();
                } catch (StrataException e) {
                    errno = NbdErrors.of(e.kind());
                    message = e.getMessage();
                    Log.info(session.peer() + ": request failed: " + e.getMessage());
                } catch (RuntimeException | Error e) {
                    errno = EIO;
                    message = "internal error";
                    Log.warn(session.peer() + ": request failed: " + e, e);
                }
                List<Object> done = messages;
                int err = errno;
                String text = message;
                ctx.executor().execute(() -> complete(cookie, done, err, text));
            });
        } catch (RejectedExecutionException e) {
            inFlight--;
            sendError(cookie, ESHUTDOWN, "server is shutting down");
        }
    }

    /** On the event loop: sends one finished reply, then lets waiting requests run. */
    private void complete(long cookie, List<Object> messages, int errno, String message) {
        inFlight--;
        if (messages != null) {
            if (ctx.channel().isActive()) {
                for (Object m : messages) {
                    ctx.write(m, ctx.voidPromise());
                }
                ctx.flush();
            } else {
                messages.forEach(ReferenceCountUtil::safeRelease);
            }
        } else {
            sendError(cookie, errno, message);
        }
        while (!disconnecting && inFlight < MAX_IN_FLIGHT && !waiting.isEmpty()) {
            handle(waiting.poll());
        }
        updateReading();
        closeIfDone();
    }

    private void sendError(long cookie, int errno, String message) {
        Object reply;
        if (session.structuredReplies()) {
            String m = message == null ? "" : message;
            if (m.length() > 1024) {
                m = m.substring(0, 1024);
            }
            reply = new NbdReplyChunk.Error(cookie, REPLY_FLAG_DONE, errno, m);
        } else {
            reply = new NbdSimpleReply(cookie, errno);
        }
        ctx.writeAndFlush(reply, ctx.voidPromise());
    }

    /** Reads from the socket only while there is room for more work and the client keeps up. */
    private void updateReading() {
        var ch = ctx.channel();
        boolean want = !disconnecting && waiting.isEmpty() && inFlight < MAX_IN_FLIGHT && ch.isWritable();
        if (ch.config().isAutoRead() != want) {
            ch.config().setAutoRead(want);
            if (want) {
                ctx.read();
            }
        }
    }

    private void closeIfDone() {
        if (disconnecting && inFlight == 0) {
            ctx.flush();
            ctx.close();
        }
    }

    private void releaseWaiting() {
        NbdRequest r;
        while ((r = waiting.poll()) != null) {
            r.release();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) throws Exception {
        updateReading();
        super.channelWritabilityChanged(ctx);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        releaseWaiting();
        super.channelInactive(ctx);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (c instanceof NbdBadMagicException) {
            Log.info(session.peer() + ": " + c.getMessage() + ": disconnecting");
        } else if (!(c instanceof IOException)) {
            Log.warn(session.peer() + ": connection failed: " + c, c);
        }
        ctx.close();
    }
}
