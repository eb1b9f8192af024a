package dev.strata.daemon.nbd.handshake;

import dev.strata.daemon.Log;
import dev.strata.daemon.nbd.NbdSession;
import dev.strata.nbd.protocol.NbdBadMagicException;
import dev.strata.nbd.protocol.NbdClientFlags;
import dev.strata.nbd.protocol.NbdClientHandshakeMessage;
import dev.strata.nbd.protocol.NbdHandshakeDecoder;
import dev.strata.nbd.protocol.NbdOption;
import dev.strata.nbd.protocol.NbdServerGreeting;
import dev.strata.nbd.protocol.NbdServerHandshakeMessage;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.util.concurrent.ScheduledFuture;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * The handshake phase of one connection: sends the fixed-newstyle greeting, checks the client
 * flags, hands each option to its {@link OptionHandler}, and on GO/EXPORT_NAME asks the
 * {@link TransmissionSwitch} to rebuild the pipeline for transmission.
 *
 * <p>Design note: the pipeline during negotiation is
 * {@code NbdHandshakeDecoder -> NbdHandshakeEncoder -> this}. The decoder pauses after options
 * that may end negotiation (GO, EXPORT_NAME, STARTTLS, ABORT); when such an option does not end
 * it (GO for an unknown export, refused STARTTLS), this handler resumes the decoder. Replies of
 * one option are written and flushed together. A client that has not reached transmission when
 * the handshake timer fires is disconnected, so a stalled client holds a connection slot for a
 * bounded time only.
 */
public final class NegotiationHandler extends SimpleChannelInboundHandler<NbdClientHandshakeMessage>
        implements OptionHandler.Context {

    /** Rebuilds the pipeline for transmission once an export is chosen. */
    @FunctionalInterface
    public interface TransmissionSwitch {
        void enterTransmission(ChannelHandlerContext ctx, NbdSession session);
    }

    private static final int OFFERED_FLAGS = NbdServerGreeting.fixedNewstyle().handshakeFlags();

    private final NbdSession session;
    private final Duration timeout;
    private final TransmissionSwitch transmission;
    private final ExportNameOption exportName = new ExportNameOption();
    private final AbortOption abort = new AbortOption();
    private final ListOption list = new ListOption();
    private final StartTlsOption startTls = new StartTlsOption();
    private final InfoOption info = new InfoOption();
    private final StructuredReplyOption structuredReply = new StructuredReplyOption();
    private final MetaContextOption metaContext = new MetaContextOption();
    private final RefusedOption refused = new RefusedOption();
    private ChannelHandlerContext context;
    private boolean flagsSeen;
    private ScheduledFuture<?> timer;

    public NegotiationHandler(NbdSession session, Duration timeout, TransmissionSwitch transmission) {
        this.session = session;
        this.timeout = timeout;
        this.transmission = transmission;
    }

    @Override
    public NbdSession session() {
        return session;
    }

    @Override
    public void send(NbdServerHandshakeMessage message) {
        context.write(message);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        context = ctx;
        if (ctx.channel().isActive()) {
            start(ctx);
        }
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        start(ctx);
        super.channelActive(ctx);
    }

    private void start(ChannelHandlerContext ctx) {
        if (timer != null) {
            return;
        }
        timer = ctx.executor().schedule(() -> {
            Log.info(session.peer() + ": handshake not finished within " + timeout.toMillis() + " ms: disconnecting");
            ctx.close();
        }, timeout.toMillis(), TimeUnit.MILLISECONDS);
        ctx.writeAndFlush(NbdServerGreeting.fixedNewstyle());
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (timer != null) {
            timer.cancel(false);
        }
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, NbdClientHandshakeMessage msg) {
        if (msg instanceof NbdClientFlags flags) {
            if (flagsSeen || flags.unknownBits(OFFERED_FLAGS) != 0) {
                Log.info(session.peer() + ": unknown client flags 0x" + Integer.toHexString(flags.flags()) + ": disconnecting");
                ctx.close();
                return;
            }
            flagsSeen = true;
            session.noZeroes(flags.noZeroes());
            return;
        }
        NbdOption option = (NbdOption) msg;
        OptionHandler.Next next = dispatch(option);
        switch (next) {
            case CONTINUE:
                ctx.flush();
                resumeDecoder(ctx);
                break;
            case TRANSMISSION:
                ctx.flush();
                transmission.enterTransmission(ctx, session);
                break;
            case CLOSE:
            default:
                ctx.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
                break;
        }
    }

    private OptionHandler.Next dispatch(NbdOption option) {
        if (option instanceof NbdOption.ExportName o) {
            return exportName.handle(o, this);
        } else if (option instanceof NbdOption.Abort o) {
            return abort.handle(o, this);
        } else if (option instanceof NbdOption.ListExports o) {
            return list.handle(o, this);
        } else if (option instanceof NbdOption.StartTls o) {
            return startTls.handle(o, this);
        } else if (option instanceof NbdOption.InfoRequest o) {
            return info.handle(o, this);
        } else if (option instanceof NbdOption.StructuredReply o) {
            return structuredReply.handle(o, this);
        } else if (option instanceof NbdOption.MetaContextRequest o) {
            return metaContext.handle(o, this);
        }
        return refused.handle(option, this);
    }

    private static void resumeDecoder(ChannelHandlerContext ctx) {
        NbdHandshakeDecoder decoder = ctx.pipeline().get(NbdHandshakeDecoder.class);
        if (decoder != null && decoder.isPaused()) {
            decoder.resumeOptions();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof io.netty.handler.codec.DecoderException && cause.getCause() != null
                ? cause.getCause() : cause;
        if (c instanceof NbdBadMagicException) {
            Log.info(session.peer() + ": " + c.getMessage() + " during the handshake: disconnecting");
        } else if (!(c instanceof java.io.IOException)) {
            Log.warn(session.peer() + ": handshake failed: " + c, c);
        }
        ctx.close();
    }
}
