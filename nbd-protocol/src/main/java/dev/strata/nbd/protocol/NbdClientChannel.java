package dev.strata.nbd.protocol;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.util.ReferenceCountUtil;

import java.io.InterruptedIOException;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The Netty side of {@link NbdClient}: one connection, its pipeline, and the hand-off between
 * the event loop and the calling threads.
 *
 * <p>Design note — two phases, two hand-offs:
 * <ul>
 *   <li>Handshake: decoded server messages go into a blocking queue that the (single) calling
 *       thread drains with {@link #receive()}; the conversation itself is in
 *       {@link NbdClientHandshake}.</li>
 *   <li>Transmission ({@link #enterTransmission()} swaps the codecs): each request registers an
 *       {@link NbdPendingReply} under a fresh cookie; the event loop feeds it the replies for that
 *       cookie and completes its future; callers block on the future with the timeout. Several
 *       threads may have requests in flight at once.</li>
 * </ul>
 * Any failure — decoder exception, protocol violation, closed socket, timeout — is terminal:
 * it is recorded once, every waiter is failed with it, and the channel is closed.
 */
final class NbdClientChannel implements AutoCloseable {
    private static final Object CLOSED = new Object();

    private final EventLoopGroup group;
    private final Duration timeout;
    private final BlockingQueue<Object> handshakeInbox = new LinkedBlockingQueue<>();
    private final Map<Long, NbdPendingReply<?>> pending = new ConcurrentHashMap<>();
    private final AtomicLong cookies = new AtomicLong(1);
    /** Set on the event loop when the pipeline is built, before any I/O. */
    private volatile Channel channel;
    private volatile NbdException failure;

    private NbdClientChannel(EventLoopGroup group, Duration timeout) {
        this.group = group;
        this.timeout = timeout;
    }

    /** Connects and installs the handshake pipeline. */
    static NbdClientChannel connect(SocketAddress target, Duration timeout) throws NbdException {
        NbdTransport transport = NbdTransport.forAddress(target);
        EventLoopGroup group = transport.newGroup();
        NbdClientChannel self = new NbdClientChannel(group, timeout);
        Bootstrap bootstrap = new Bootstrap()
                .group(group)
                .channel(transport.channelType())
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()))
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        self.channel = ch;
                        ch.pipeline()
                                .addLast("nbd-decoder", new NbdHandshakeReplyDecoder())
                                .addLast("nbd-encoder", new NbdOptionEncoder())
                                .addLast("nbd-client", self.new Inbound());
                    }
                });
        if (!transport.isUnix()) {
            bootstrap.option(ChannelOption.TCP_NODELAY, true);
        }
        ChannelFuture connect = bootstrap.connect(transport.address());
        try {
            if (!connect.await(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS)) {
                connect.cancel(false);
                throw new NbdException("timed out connecting to " + target);
            }
            if (!connect.isSuccess()) {
                throw new NbdException("cannot connect to " + target + ": " + connect.cause().getMessage(), connect.cause());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw new NbdException("interrupted while connecting to " + target, e);
        } catch (NbdException e) {
            group.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
            throw e;
        }
        return self;
    }

    Duration timeout() {
        return timeout;
    }

    // ---- handshake ----------------------------------------------------------------------------

    /** Sends one handshake message and waits until it is written. */
    void send(NbdClientHandshakeMessage message) throws NbdException {
        checkOpen();
        await(channel.writeAndFlush(message), "sending " + message);
    }

    /** The next decoded handshake message from the server. */
    Object receive() throws NbdException {
        Object message = handshakeInbox.poll();
        if (message == null && failure != null) {
            throw failure;
        }
        try {
            if (message == null) {
                message = handshakeInbox.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw interrupted();
        }
        if (message == null) {
            fail(new NbdException("timed out after " + timeout.toMillis() + " ms waiting for the server"));
        } else if (message != CLOSED) {
            return message;
        }
        throw failure;
    }

    /** Runs {@code action} on the event loop and waits for it (pipeline and decoder state changes). */
    void onEventLoop(Runnable action) throws NbdException {
        await(channel.eventLoop().submit(action), "event loop task");
    }

    NbdHandshakeReplyDecoder handshakeDecoder() {
        return (NbdHandshakeReplyDecoder) channel.pipeline().get("nbd-decoder");
    }

    /** Swaps the handshake codecs for the transmission codecs (after GO / EXPORT_NAME succeeded). */
    void enterTransmission() throws NbdException {
        onEventLoop(() -> {
            channel.pipeline().replace("nbd-encoder", "nbd-encoder", new NbdRequestEncoder());
            channel.pipeline().replace("nbd-decoder", "nbd-decoder", new NbdReplyDecoder(this::readLength));
        });
    }

    private long readLength(long cookie) {
        NbdPendingReply<?> reply = pending.get(cookie);
        return reply == null ? 0 : reply.simpleReplyDataLength();
    }

    // ---- transmission ---------------------------------------------------------------------------

    long nextCookie() {
        return cookies.getAndIncrement();
    }

    /** Sends {@code request} and registers {@code reply} for it; the returned reply's future completes later. */
    <T> NbdPendingReply<T> submit(NbdRequest request, NbdPendingReply<T> reply) throws NbdException {
        if (failure != null) {
            request.release();
            throw failure;
        }
        pending.put(request.cookie(), reply);
        if (failure != null) {
            pending.remove(request.cookie());
            request.release();
            throw failure;
        }
        channel.writeAndFlush(request).addListener(f -> {
            if (!f.isSuccess()) {
                fail(new NbdException("cannot send " + request.commandName() + ": " + f.cause(), f.cause()));
            }
        });
        return reply;
    }

    /** Waits for a submitted reply. */
    <T> T await(NbdPendingReply<T> reply) throws NbdException {
        try {
            return reply.future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            NbdException timedOut = new NbdException(NbdConstants.commandName(reply.command) + " timed out after "
                    + timeout.toMillis() + " ms");
            fail(timedOut);
            throw timedOut;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw interrupted();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof NbdCommandException command) {
                // Rethrow with the caller's stack, keeping the server's details.
                NbdCommandException copy = new NbdCommandException(command.command(), command.errno(),
                        command.serverMessage(), command.errorOffset());
                throw copy;
            }
            if (cause instanceof NbdException nbd) {
                throw new NbdException(nbd.getMessage(), nbd);
            }
            throw new NbdException(String.valueOf(cause), cause);
        }
    }

    /** Sends {@code NBD_CMD_DISC} and waits until it is written (no reply exists). */
    void sendDisconnect() throws NbdException {
        if (failure == null && channel.isActive()) {
            await(channel.writeAndFlush(new NbdRequest(0, NbdConstants.CMD_DISC, nextCookie(), 0, 0)), "NBD_CMD_DISC");
        }
    }

    boolean isOpen() {
        return failure == null && channel.isActive();
    }

    @Override
    public void close() {
        synchronized (this) {
            if (failure == null) {
                failure = new NbdException("connection closed");
            }
        }
        failAll(failure);
        channel.close().awaitUninterruptibly(timeout.toMillis());
        group.shutdownGracefully(0, timeout.toMillis(), TimeUnit.MILLISECONDS).awaitUninterruptibly(timeout.toMillis());
    }

    // ---- failure ------------------------------------------------------------------------------------

    private void checkOpen() throws NbdException {
        if (failure != null) {
            throw failure;
        }
    }

    /** Records the first failure, fails every waiter and closes the channel. */
    void fail(NbdException cause) {
        synchronized (this) {
            if (failure == null) {
                failure = cause;
            }
        }
        failAll(failure);
        channel.close();
    }

    private void failAll(NbdException cause) {
        handshakeInbox.add(CLOSED);
        for (Long cookie : pending.keySet()) {
            NbdPendingReply<?> reply = pending.remove(cookie);
            if (reply != null) {
                reply.future.completeExceptionally(cause);
            }
        }
    }

    private void dispatch(NbdReply reply) {
        NbdPendingReply<?> target = pending.get(reply.cookie());
        if (target == null) {
            fail(new NbdException("server sent a reply for unknown cookie " + reply.cookie()));
            return;
        }
        try {
            if (target.accept(reply)) {
                pending.remove(reply.cookie());
            }
        } catch (NbdProtocolException e) {
            fail(new NbdException("protocol error: " + e.getMessage(), e));
        }
    }

    private void await(io.netty.util.concurrent.Future<?> future, String what) throws NbdException {
        try {
            if (!future.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                NbdException timedOut = new NbdException("timed out " + what);
                fail(timedOut);
                throw timedOut;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            throw interrupted();
        }
        if (!future.isSuccess()) {
            NbdException error = failure != null ? failure
                    : new NbdException("failed " + what + ": " + future.cause(), future.cause());
            fail(error);
            throw error;
        }
    }

    private static NbdException interrupted() {
        return new NbdException("interrupted", new InterruptedIOException());
    }

    /** The last inbound handler: replies to pending requests, everything else to the handshake inbox. */
    private final class Inbound extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof NbdReply reply) {
                try {
                    dispatch(reply);
                } finally {
                    ReferenceCountUtil.release(msg);
                }
            } else {
                handshakeInbox.add(msg);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            String message = cause instanceof NbdProtocolException ? "protocol error: " + cause.getMessage()
                    : "connection failed: " + cause;
            fail(new NbdException(message, cause));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            fail(new NbdException("connection closed by the server"));
        }
    }
}
