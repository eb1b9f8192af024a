package dev.strata.nbd.protocol;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * A tiny in-memory NBD server assembled from this module's codecs, for loopback tests — and a
 * sketch of how the daemon wires them: greeting on connect, {@link NbdHandshakeDecoder} +
 * {@link NbdHandshakeEncoder} for negotiation, an in-place swap to {@link NbdRequestDecoder} on
 * GO, {@link NbdReplyEncoder} for replies, FileRegions for zero-copy reads.
 *
 * <p>Behaviour knobs exist only to exercise client paths: {@code supportGo=false} forces the
 * {@code NBD_OPT_EXPORT_NAME} fallback, {@code garbageReplies} makes every request answer with a
 * bad magic, {@code poisonOffset} makes reads covering it fail with EIO. Structured READ replies
 * are cut into 4 KiB pieces sent in reverse order (zero pieces as holes) to test reassembly.
 * Work runs on the event loop — fine for tests, not what the daemon does.
 */
final class MiniNbdServer implements AutoCloseable {
    static final int BLOCK = 4096;

    /** One export: in-memory bytes, optionally mirrored by a file for FileRegion reads. */
    record Export(String name, byte[] data, Path file, int extraFlags) {
    }

    private final Map<String, Export> exports = new LinkedHashMap<>();
    private final EventLoopGroup group;
    private Channel server;
    boolean supportGo = true;
    boolean garbageReplies;
    long poisonOffset = -1;

    MiniNbdServer(Export... exports) {
        for (Export e : exports) {
            this.exports.put(e.name(), e);
        }
        group = new MultiThreadIoEventLoopGroup(1,
                Epoll.isAvailable() ? EpollIoHandler.newFactory() : NioIoHandler.newFactory());
    }

    /** Listens on 127.0.0.1, any free port. */
    InetSocketAddress startTcp() throws InterruptedException {
        server = bootstrap().channel(Epoll.isAvailable() ? EpollServerSocketChannel.class : NioServerSocketChannel.class)
                .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        return (InetSocketAddress) server.localAddress();
    }

    /** Listens on a Unix socket at {@code path}; returns the JDK address for clients. */
    SocketAddress startUnix(Path path) throws InterruptedException {
        if (Epoll.isAvailable()) {
            server = bootstrap().channel(EpollServerDomainSocketChannel.class)
                    .bind(new DomainSocketAddress(path.toString())).sync().channel();
        } else {
            server = bootstrap().channel(NioServerDomainSocketChannel.class)
                    .bind(UnixDomainSocketAddress.of(path)).sync().channel();
        }
        return UnixDomainSocketAddress.of(path);
    }

    private ServerBootstrap bootstrap() {
        return new ServerBootstrap().group(group).childHandler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline()
                        .addLast("nbd-decoder", new NbdHandshakeDecoder())
                        .addLast("handshake-encoder", new NbdHandshakeEncoder())
                        .addLast("reply-encoder", new NbdReplyEncoder())
                        .addLast("session", new Session());
            }
        });
    }

    @Override
    public void close() {
        if (server != null) {
            server.close().syncUninterruptibly();
        }
        group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** Per-connection state: negotiation then transmission. */
    private final class Session extends SimpleChannelInboundHandler<Object> {
        private boolean noZeroes;
        private boolean structured;
        private final Map<Integer, String> contexts = new LinkedHashMap<>();
        private Export export;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.writeAndFlush(NbdServerGreeting.fixedNewstyle());
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof NbdClientFlags flags) {
                if (flags.unknownBits(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES) != 0) {
                    ctx.close();
                }
                noZeroes = flags.noZeroes();
            } else if (msg instanceof NbdOption option) {
                option(ctx, option);
            } else if (msg instanceof NbdRequest request) {
                request(ctx, request);
            } else if (msg instanceof NbdOversizedWrite write) {
                ctx.writeAndFlush(new NbdSimpleReply(write.cookie(), EOVERFLOW));
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }

        private void option(ChannelHandlerContext ctx, NbdOption option) {
            int code = option.code();
            if (option instanceof NbdOption.StructuredReply) {
                structured = true;
                ctx.writeAndFlush(new NbdOptionReply.Ack(code));
            } else if (option instanceof NbdOption.ListExports) {
                for (Export e : exports.values()) {
                    ctx.write(new NbdOptionReply.Server(code, e.name(), "test export " + e.name()));
                }
                ctx.writeAndFlush(new NbdOptionReply.Ack(code));
            } else if (option instanceof NbdOption.MetaContextRequest request) {
                metaContext(ctx, request);
            } else if (option instanceof NbdOption.InfoRequest request) {
                info(ctx, request);
            } else if (option instanceof NbdOption.ExportName name) {
                export = exports.get(name.exportName());
                if (export == null) {
                    ctx.close();
                    return;
                }
                ctx.writeAndFlush(new NbdExportNameReply(export.data().length, flags(), !noZeroes));
                enterTransmission(ctx);
            } else if (option instanceof NbdOption.Abort) {
                ctx.writeAndFlush(new NbdOptionReply.Ack(code)).addListener(f -> ctx.close());
            } else if (option instanceof NbdOption.StartTls) {
                ctx.writeAndFlush(new NbdOptionReply.Error(code, REP_ERR_POLICY, "no TLS here"));
                resume(ctx);
            } else if (option instanceof NbdOption.TooBig) {
                ctx.writeAndFlush(new NbdOptionReply.Error(code, REP_ERR_TOO_BIG, "option too big"));
            } else if (option instanceof NbdOption.Invalid invalid) {
                ctx.writeAndFlush(new NbdOptionReply.Error(code, REP_ERR_INVALID, invalid.reason()));
            } else {
                ctx.writeAndFlush(new NbdOptionReply.Error(code, REP_ERR_UNSUP, ""));
            }
        }

        private void metaContext(ChannelHandlerContext ctx, NbdOption.MetaContextRequest request) {
            int code = request.code();
            if (!structured) {
                ctx.writeAndFlush(new NbdOptionReply.Error(code, REP_ERR_INVALID, "structured replies first"));
                return;
            }
            boolean set = request instanceof NbdOption.SetMetaContext;
            if (set) {
                contexts.clear();
            }
            List<String> queries = request.queries().isEmpty() && !set
                    ? List.of("base:", "qemu:") : request.queries();
            for (String query : queries) {
                List<String> matches = new ArrayList<>();
                if (query.equals(CONTEXT_BASE_ALLOCATION) || (!set && query.equals("base:"))) {
                    matches.add(CONTEXT_BASE_ALLOCATION);
                }
                if (query.equals(CONTEXT_QEMU_ALLOCATION_DEPTH) || (!set && query.equals("qemu:"))) {
                    matches.add(CONTEXT_QEMU_ALLOCATION_DEPTH);
                }
                for (String name : matches) {
                    int id = name.equals(CONTEXT_BASE_ALLOCATION) ? 10 : 20;
                    if (set) {
                        contexts.put(id, name);
                    }
                    ctx.write(new NbdOptionReply.MetaContext(code, set ? id : 0, name));
                }
            }
            ctx.writeAndFlush(new NbdOptionReply.Ack(code));
        }

        private void info(ChannelHandlerContext ctx, NbdOption.InfoRequest request) {
            int code = request.code();
            if (!supportGo) {
                ctx.writeAndFlush(new NbdOptionReply.Error(code, REP_ERR_UNSUP, ""));
                resume(ctx);
                return;
            }
            Export e = exports.get(request.exportName());
            if (e == null) {
                ctx.writeAndFlush(new NbdOptionReply.Error(code, REP_ERR_UNKNOWN, "no export " + request.exportName()));
                resume(ctx);
                return;
            }
            export = e;
            ctx.write(new NbdOptionReply.Info(code, new NbdInfo.Export(e.data().length, flags())));
            if (request.requestsBlockSize()) {
                ctx.write(new NbdOptionReply.Info(code, new NbdInfo.BlockSize(1, BLOCK, 1 << 20)));
            }
            ctx.write(new NbdOptionReply.Info(code, new NbdInfo.Description("ignored by clients that did not ask")));
            ctx.writeAndFlush(new NbdOptionReply.Ack(code));
            if (request instanceof NbdOption.Go) {
                enterTransmission(ctx);
            }
        }

        private int flags() {
            return FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_FUA | FLAG_SEND_TRIM | FLAG_SEND_WRITE_ZEROES
                    | (structured ? FLAG_SEND_DF : 0) | export.extraFlags();
        }

        private void resume(ChannelHandlerContext ctx) {
            ((NbdHandshakeDecoder) ctx.pipeline().get("nbd-decoder")).resumeOptions();
        }

        private void enterTransmission(ChannelHandlerContext ctx) {
            ctx.pipeline().replace("nbd-decoder", "nbd-decoder", new NbdRequestDecoder(1 << 20));
        }

        private void request(ChannelHandlerContext ctx, NbdRequest request) {
            if (garbageReplies) {
                ctx.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}));
                return;
            }
            byte[] data = export.data();
            long cookie = request.cookie();
            long end = request.offset() + request.length();
            boolean inRange = request.offset() >= 0 && end <= data.length;
            switch (request.type()) {
                case CMD_READ -> {
                    if (!inRange) {
                        error(ctx, cookie, EINVAL, "read beyond the end");
                    } else if (poisonOffset >= request.offset() && poisonOffset < end) {
                        error(ctx, cookie, EIO, "poisoned sector");
                    } else {
                        read(ctx, request);
                    }
                }
                case CMD_WRITE -> {
                    if (!inRange) {
                        error(ctx, cookie, ENOSPC, "");
                    } else {
                        request.payload().getBytes(request.payload().readerIndex(), data, (int) request.offset(),
                                (int) request.length());
                        ctx.writeAndFlush(new NbdSimpleReply(cookie, 0));
                    }
                }
                case CMD_WRITE_ZEROES, CMD_TRIM -> {
                    java.util.Arrays.fill(data, (int) request.offset(), (int) end, (byte) 0);
                    ctx.writeAndFlush(new NbdSimpleReply(cookie, 0));
                }
                case CMD_FLUSH -> ctx.writeAndFlush(new NbdSimpleReply(cookie, 0));
                case CMD_BLOCK_STATUS -> blockStatus(ctx, request);
                case CMD_DISC -> ctx.close();
                default -> error(ctx, cookie, EINVAL, "unknown command");
            }
        }

        private void error(ChannelHandlerContext ctx, long cookie, int errno, String message) {
            ctx.writeAndFlush(structured ? new NbdReplyChunk.Error(cookie, REPLY_FLAG_DONE, errno, message)
                    : new NbdSimpleReply(cookie, errno));
        }

        private void read(ChannelHandlerContext ctx, NbdRequest request) {
            byte[] data = export.data();
            int offset = (int) request.offset();
            int length = (int) request.length();
            if (!structured) {
                ctx.writeAndFlush(new NbdSimpleReply(request.cookie(), 0, Unpooled.wrappedBuffer(data, offset, length)));
                return;
            }
            List<int[]> pieces = new ArrayList<>();
            for (int at = offset; at < offset + length; ) {
                int n = Math.min(BLOCK - at % BLOCK, offset + length - at);
                pieces.add(new int[] {at, n});
                at += n;
            }
            java.util.Collections.reverse(pieces);
            for (int[] piece : pieces) {
                if (isZero(data, piece[0], piece[1])) {
                    ctx.write(new NbdReplyChunk.OffsetHole(request.cookie(), 0, piece[0], piece[1]));
                } else if (export.file() != null) {
                    ctx.write(new NbdReplyChunk.OffsetDataHead(request.cookie(), 0, piece[0], piece[1]));
                    ctx.write(new DefaultFileRegion(openFile(), piece[0], piece[1]));
                } else {
                    ctx.write(new NbdReplyChunk.OffsetData(request.cookie(), 0, piece[0],
                            Unpooled.wrappedBuffer(data, piece[0], piece[1])));
                }
            }
            ctx.writeAndFlush(new NbdReplyChunk.None(request.cookie()));
        }

        private FileChannel openFile() {
            try {
                return FileChannel.open(export.file(), StandardOpenOption.READ);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private void blockStatus(ChannelHandlerContext ctx, NbdRequest request) {
            if (contexts.isEmpty()) {
                error(ctx, request.cookie(), EINVAL, "no contexts");
                return;
            }
            byte[] data = export.data();
            List<Map.Entry<Integer, String>> selected = new ArrayList<>(contexts.entrySet());
            for (int i = 0; i < selected.size(); i++) {
                boolean depth = selected.get(i).getValue().equals(CONTEXT_QEMU_ALLOCATION_DEPTH);
                List<NbdExtent> extents = new ArrayList<>();
                long end = Math.min(data.length, request.offset() + request.length());
                for (long at = request.offset(); at < end; ) {
                    int n = (int) Math.min(BLOCK - at % BLOCK, end - at);
                    boolean zero = isZero(data, (int) at, n);
                    int status = depth ? (zero ? 0 : 1) : (zero ? STATE_HOLE | STATE_ZERO : 0);
                    int last = extents.size() - 1;
                    if (last >= 0 && extents.get(last).flags() == status) {
                        extents.set(last, new NbdExtent(extents.get(last).length() + n, status));
                    } else {
                        extents.add(new NbdExtent(n, status));
                    }
                    at += n;
                }
                if (request.hasFlag(CMD_FLAG_REQ_ONE)) {
                    extents = extents.subList(0, 1);
                }
                ctx.write(new NbdReplyChunk.BlockStatus(request.cookie(),
                        i == selected.size() - 1 ? REPLY_FLAG_DONE : 0, selected.get(i).getKey(), extents));
            }
            ctx.flush();
        }
    }

    static boolean isZero(byte[] data, int offset, int length) {
        for (int i = offset; i < offset + length; i++) {
            if (data[i] != 0) {
                return false;
            }
        }
        return true;
    }
}
