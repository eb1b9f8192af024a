package dev.strata.daemon.nbd;

import dev.strata.daemon.DaemonException;
import dev.strata.daemon.Log;
import dev.strata.daemon.export.Export;
import dev.strata.daemon.export.ExportRegistry;
import dev.strata.daemon.nbd.handshake.NegotiationHandler;
import dev.strata.nbd.protocol.NbdHandshakeDecoder;
import dev.strata.nbd.protocol.NbdHandshakeEncoder;
import dev.strata.nbd.protocol.NbdReplyEncoder;
import dev.strata.nbd.protocol.NbdRequestDecoder;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The NBD server: TCP and Unix-socket listeners over one set of event loops (native epoll when
 * Netty's JNI library loads, NIO otherwise), a connection limit ({@code -e}), and the bounded
 * worker pool that runs engine calls.
 *
 * <p>Pipeline of a connection: {@code NbdHandshakeDecoder -> NbdHandshakeEncoder ->
 * NegotiationHandler} while negotiating, then {@code NbdRequestDecoder -> NbdReplyEncoder ->
 * TransmissionHandler}. Connections beyond the limit are accepted and closed at once (the client
 * sees EOF instead of hanging in the backlog). With {@code onIdle} set (qemu-nbd without
 * {@code -t}), the server calls it when the last client has gone after at least one came.
 *
 * <p>Worker pool: {@code max(4, 2 x cores)} threads. Its queue is unbounded as a data structure
 * but bounded in practice: each connection has at most {@link TransmissionHandler#MAX_IN_FLIGHT}
 * requests in it, and connections are limited.
 *
 * <p>Unix socket: as QEMU does, an existing socket file at the path is replaced; any other kind
 * of file there is an error. The socket file is removed on close.
 */
public final class NbdServer implements AutoCloseable {
    private static final NbdReplyEncoder REPLY_ENCODER = new NbdReplyEncoder();
    private static final NbdHandshakeEncoder HANDSHAKE_ENCODER = new NbdHandshakeEncoder();

    private final NbdServerConfig config;
    private final ExportRegistry registry;
    private final Runnable onIdle;
    private final boolean epoll;
    private final EventLoopGroup boss;
    private final EventLoopGroup loops;
    private final ExecutorService workers;
    private final ChannelGroup channels = new DefaultChannelGroup("stratad-nbd", GlobalEventExecutor.INSTANCE);
    private final List<Channel> listeners = new ArrayList<>();
    private final List<String> urls = new ArrayList<>();
    private final Map<Export, HostFileRegions> files = new HashMap<>();
    private final AtomicInteger clients = new AtomicInteger();
    private final AtomicBoolean anyClient = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile InetSocketAddress tcpAddress;

    private NbdServer(NbdServerConfig config, ExportRegistry registry, Runnable onIdle) {
        this.config = config;
        this.registry = registry;
        this.onIdle = onIdle;
        this.epoll = epollAvailable();
        var factory = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.boss = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("stratad-accept", true), factory);
        int cores = Runtime.getRuntime().availableProcessors();
        this.loops = new MultiThreadIoEventLoopGroup(Math.max(1, cores), new DefaultThreadFactory("stratad-io", true), factory);
        int n = Math.max(4, 2 * cores);
        ThreadPoolExecutor pool = new ThreadPoolExecutor(n, n, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                new DefaultThreadFactory("stratad-worker", true));
        pool.allowCoreThreadTimeOut(true);
        this.workers = pool;
        for (Export e : registry.list()) {
            files.put(e, new HostFileRegions(e));
        }
    }

    /**
     * Binds every configured listener and starts serving.
     *
     * @param onIdle called when the last client has disconnected (after at least one), or null
     * @throws DaemonException when a listener cannot be bound
     */
    public static NbdServer start(NbdServerConfig config, ExportRegistry registry, Runnable onIdle) {
        NbdServer s = new NbdServer(config, registry, onIdle);
        try {
            if (config.unixSocket() != null) {
                s.bindUnix(config.unixSocket());
            }
            if (config.tcpBind() != null) {
                s.bindTcp(config.tcpBind(), config.tcpPort());
            }
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        Log.info("NBD server up (" + (s.epoll ? "epoll" : "nio") + " transport, at most " + config.maxClients()
                + " client" + (config.maxClients() == 1 ? "" : "s") + ")");
        return s;
    }

    private static boolean epollAvailable() {
        try {
            return Epoll.isAvailable() && !Boolean.getBoolean("strata.nbd.nio");
        } catch (Throwable t) {
            return false;
        }
    }

    /** The URLs clients connect to, one per listener. */
    public List<String> urls() {
        return List.copyOf(urls);
    }

    /** The bound TCP address (useful with port 0), or null without a TCP listener. */
    public InetSocketAddress tcpAddress() {
        return tcpAddress;
    }

    /** Connections currently open (negotiating or transmitting). */
    public int clientCount() {
        return clients.get();
    }

    private void bindTcp(String host, int port) {
        ServerBootstrap b = bootstrap(epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class);
        b.childOption(ChannelOption.TCP_NODELAY, true).childOption(ChannelOption.SO_KEEPALIVE, true);
        InetSocketAddress addr = new InetSocketAddress(host, port);
        if (addr.isUnresolved()) {
            throw new DaemonException("Failed to bind socket: cannot resolve '" + host + "'");
        }
        Channel ch = bind(b, addr, host + ":" + port);
        tcpAddress = (InetSocketAddress) ch.localAddress();
        String h = port == 0 || host.isEmpty() ? tcpAddress.getAddress().getHostAddress() : host;
        if (h.contains(":")) {
            h = "[" + h + "]";
        }
        urls.add("nbd://" + h + ":" + tcpAddress.getPort() + "/");
    }

    private void bindUnix(Path path) {
        Path abs = path.toAbsolutePath();
        if (Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
            boolean socket;
            try {
                socket = "s".equals(fileType(abs));
            } catch (IOException e) {
                socket = false;
            }
            if (!socket) {
                throw new DaemonException("Failed to bind socket to " + path + ": file exists and is not a socket");
            }
            try {
                Files.delete(abs);
            } catch (IOException e) {
                throw new DaemonException("Failed to unlink socket " + path + ": " + e.getMessage());
            }
        }
        ServerBootstrap b = bootstrap(epoll ? EpollServerDomainSocketChannel.class : NioServerDomainSocketChannel.class);
        SocketAddress addr = epoll ? new DomainSocketAddress(abs.toString()) : UnixDomainSocketAddress.of(abs);
        bind(b, addr, path.toString());
        urls.add("nbd+unix:///?socket=" + abs);
    }

    private static String fileType(Path p) throws IOException {
        Object mode = Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        int m = ((Number) mode).intValue() & 0170000;
        return m == 0140000 ? "s" : "other";
    }

    private Channel bind(ServerBootstrap b, SocketAddress addr, String shown) {
        try {
            Channel ch = b.bind(addr).sync().channel();
            listeners.add(ch);
            return ch;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DaemonException("Failed to bind socket to " + shown + ": interrupted");
        } catch (Exception e) {
            String reason = e.getMessage() == null ? e.toString() : e.getMessage();
            // Netty's native transport says "bind(..) failed with error(-98): Address already in use".
            reason = reason.replaceFirst("^\\w+\\(\\.\\.\\) failed with error\\(-?\\d+\\): ", "");
            throw new DaemonException("Failed to bind socket to " + shown + ": " + reason, e);
        }
    }

    private ServerBootstrap bootstrap(Class<? extends ServerChannel> type) {
        return new ServerBootstrap()
                .group(boss, loops)
                .channel(type)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(4 << 20, 16 << 20))
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        accept(ch);
                    }
                });
    }

    private void accept(Channel ch) {
        String peer = describe(ch);
        if (closed.get()) {
            ch.close();
            return;
        }
        int n = clients.incrementAndGet();
        if (n > config.maxClients()) {
            clients.decrementAndGet();
            Log.info(peer + ": refused: already serving " + config.maxClients() + " client"
                    + (config.maxClients() == 1 ? "" : "s") + " (-e/--shared)");
            ch.close();
            return;
        }
        anyClient.set(true);
        channels.add(ch);
        Log.info(peer + ": connected");
        ch.closeFuture().addListener(f -> {
            Log.info(peer + ": disconnected");
            if (clients.decrementAndGet() == 0 && onIdle != null && !closed.get()) {
                onIdle.run();
            }
        });
        NbdSession session = new NbdSession(registry, peer);
        ChannelPipeline p = ch.pipeline();
        p.addLast("nbd-handshake-decoder", new NbdHandshakeDecoder());
        p.addLast("nbd-handshake-encoder", HANDSHAKE_ENCODER);
        p.addLast("nbd-negotiation", new NegotiationHandler(session, config.handshakeTimeout(), this::enterTransmission));
    }

    /** Rebuilds the pipeline for transmission; the decoder is replaced last so buffered bytes reach the new one. */
    private void enterTransmission(ChannelHandlerContext ctx, NbdSession session) {
        ChannelPipeline p = ctx.pipeline();
        p.addLast("nbd-reply-encoder", REPLY_ENCODER);
        p.addLast("nbd-transmission", new TransmissionHandler(session, files.get(session.export()), workers));
        p.remove("nbd-handshake-encoder");
        p.remove(ctx.handler());
        p.replace("nbd-handshake-decoder", "nbd-request-decoder", new NbdRequestDecoder());
    }

    private static String describe(Channel ch) {
        SocketAddress remote = ch.remoteAddress();
        if (remote instanceof InetSocketAddress inet) {
            return "client " + inet.getAddress().getHostAddress() + ":" + inet.getPort();
        }
        return "client on " + (ch.localAddress() == null ? "unix socket" : ch.localAddress());
    }

    /** Stops accepting, closes every connection, stops the threads, removes the socket file. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        for (Channel l : listeners) {
            l.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        channels.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        loops.shutdownGracefully(0, 2, TimeUnit.SECONDS);
        workers.shutdownNow();
        boss.terminationFuture().awaitUninterruptibly(3, TimeUnit.SECONDS);
        loops.terminationFuture().awaitUninterruptibly(3, TimeUnit.SECONDS);
        try {
            workers.awaitTermination(3, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        files.values().forEach(HostFileRegions::close);
        if (config.unixSocket() != null) {
            try {
                Files.deleteIfExists(config.unixSocket().toAbsolutePath());
            } catch (IOException ignored) {
                // best effort
            }
        }
    }
}
