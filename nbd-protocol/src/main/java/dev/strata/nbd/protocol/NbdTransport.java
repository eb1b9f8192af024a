package dev.strata.nbd.protocol;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;

/**
 * Picks the Netty transport for a client connection: native epoll when the JNI library loads
 * (Linux x86-64), NIO otherwise. Unix sockets use {@link EpollDomainSocketChannel} with epoll
 * and the JDK's own Unix-domain support ({@link NioDomainSocketChannel}) without.
 *
 * <p>Accepted addresses: {@link InetSocketAddress} (resolved or not), the JDK's
 * {@link UnixDomainSocketAddress}, and Netty's {@link DomainSocketAddress}; each is converted to
 * the kind the chosen channel wants.
 */
final class NbdTransport {
    private final boolean epoll;
    private final boolean unix;
    private final SocketAddress address;

    private NbdTransport(boolean epoll, boolean unix, SocketAddress address) {
        this.epoll = epoll;
        this.unix = unix;
        this.address = address;
    }

    static boolean epollAvailable() {
        try {
            return Epoll.isAvailable();
        } catch (Throwable t) {
            return false;
        }
    }

    static NbdTransport forAddress(SocketAddress target) {
        boolean epoll = epollAvailable();
        if (target instanceof InetSocketAddress inet) {
            return new NbdTransport(epoll, false, inet);
        }
        String path;
        if (target instanceof UnixDomainSocketAddress jdk) {
            path = jdk.getPath().toString();
        } else if (target instanceof DomainSocketAddress netty) {
            path = netty.path();
        } else {
            throw new IllegalArgumentException("unsupported address type " + target.getClass().getName());
        }
        SocketAddress converted = epoll ? new DomainSocketAddress(path) : UnixDomainSocketAddress.of(path);
        return new NbdTransport(epoll, true, converted);
    }

    /** A one-thread event loop group with daemon threads. */
    EventLoopGroup newGroup() {
        DefaultThreadFactory threads = new DefaultThreadFactory("nbd-client", true);
        return new MultiThreadIoEventLoopGroup(1, threads,
                epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
    }

    Class<? extends Channel> channelType() {
        if (epoll) {
            return unix ? EpollDomainSocketChannel.class : EpollSocketChannel.class;
        }
        return unix ? NioDomainSocketChannel.class : NioSocketChannel.class;
    }

    boolean isUnix() {
        return unix;
    }

    SocketAddress address() {
        return address;
    }
}
