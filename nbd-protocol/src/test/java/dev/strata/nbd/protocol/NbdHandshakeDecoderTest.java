package dev.strata.nbd.protocol;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;
import static dev.strata.nbd.protocol.WireBytes.wire;
import static org.junit.jupiter.api.Assertions.*;

/** Server-side handshake decoding, byte-exact against the spec's option layouts. */
class NbdHandshakeDecoderTest {

    /** C: 64 bits IHAVEOPT, 32 bits option, 32 bits length, data. */
    private static WireBytes option(WireBytes w, int code, byte[] data) {
        return w.u64(0x49484156454F5054L).u32(code).u32(data.length).bytes(data);
    }

    private static byte[] goData(String name, int... infos) {
        WireBytes d = wire().u32(name.length()).ascii(name).u16(infos.length);
        for (int info : infos) {
            d.u16(info);
        }
        return d.build();
    }

    @Test
    void decodesAFullNegotiationInAnyPieces() {
        WireBytes w = wire().u32(3); // client flags: FIXED_NEWSTYLE | NO_ZEROES
        option(w, 8, new byte[0]); // NBD_OPT_STRUCTURED_REPLY
        option(w, 3, new byte[0]); // NBD_OPT_LIST
        option(w, 10, wire().u32(4).ascii("disk").u32(2)
                .u32(15).ascii("base:allocation")
                .u32(21).ascii("qemu:allocation-depth").build()); // NBD_OPT_SET_META_CONTEXT
        option(w, 9, wire().u32(0).u32(0).build()); // NBD_OPT_LIST_META_CONTEXT, default export, no query
        option(w, 6, goData("disk", 3, 1)); // NBD_OPT_INFO
        option(w, 7, goData("disk", 3)); // NBD_OPT_GO
        byte[] bytes = w.build();

        List<Object> expected = List.of(
                new NbdClientFlags(3),
                new NbdOption.StructuredReply(),
                new NbdOption.ListExports(),
                new NbdOption.SetMetaContext("disk", List.of("base:allocation", "qemu:allocation-depth")),
                new NbdOption.ListMetaContext("", List.of()),
                new NbdOption.Info("disk", List.of(3, 1)),
                new NbdOption.Go("disk", List.of(3)));
        for (Pieces.Split split : Pieces.all()) {
            assertEquals(expected, Pieces.decode(NbdHandshakeDecoder::new, bytes, split));
        }
    }

    @Test
    void zeroLengthOptionAtTheEndOfAReadIsDecodedAtOnce() {
        EmbeddedChannel ch = new EmbeddedChannel(new NbdHandshakeDecoder());
        ch.writeInbound(io.netty.buffer.Unpooled.wrappedBuffer(wire().u32(1).build()));
        assertEquals(new NbdClientFlags(1), ch.readInbound());
        ch.writeInbound(io.netty.buffer.Unpooled.wrappedBuffer(option(wire(), 8, new byte[0]).build()));
        assertEquals(new NbdOption.StructuredReply(), ch.readInbound());
        assertFalse(ch.finish());
    }

    @Test
    void exportNameAndFlagsHelpers() {
        byte[] bytes = option(wire().u32(1), 1, "name with ünïcode".getBytes(java.nio.charset.StandardCharsets.UTF_8))
                .build();
        for (Pieces.Split split : Pieces.all()) {
            List<Object> out = Pieces.decode(NbdHandshakeDecoder::new, bytes, split);
            NbdClientFlags flags = (NbdClientFlags) out.get(0);
            assertTrue(flags.fixedNewstyle());
            assertFalse(flags.noZeroes());
            assertEquals(0, flags.unknownBits(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
            assertEquals(new NbdOption.ExportName("name with ünïcode"), out.get(1));
        }
        assertEquals(4, new NbdClientFlags(7).unknownBits(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
        assertEquals(2, new NbdClientFlags(3).unknownBits(FLAG_FIXED_NEWSTYLE));
    }

    @Test
    void abortIgnoresDataAndPauses() {
        byte[] bytes = option(option(wire().u32(1), 2, new byte[] {1, 2, 3}), 3, new byte[0]).build();
        for (Pieces.Split split : Pieces.all()) {
            assertEquals(List.of(new NbdClientFlags(1), new NbdOption.Abort()),
                    Pieces.decode(NbdHandshakeDecoder::new, bytes, split));
        }
    }

    @Test
    void tooBigOptionIsReportedAtOnceAndItsDataDiscardedAsItArrives() {
        int big = 100_000;
        WireBytes w = wire().u32(1);
        w.u64(IHAVEOPT).u32(OPT_SET_META_CONTEXT).u32(big);
        byte[] head = w.build();
        byte[] tail = option(wire().zeros(big), OPT_LIST, new byte[0]).build();

        NbdHandshakeDecoder decoder = new NbdHandshakeDecoder();
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        Pieces.feed(ch, head, Pieces.fixed(5));
        assertEquals(new NbdClientFlags(1), ch.readInbound());
        // Reported as soon as the header is in, before any data byte was sent.
        assertEquals(new NbdOption.TooBig(OPT_SET_META_CONTEXT, big), ch.readInbound());
        Pieces.feed(ch, tail, Pieces.fixed(4099));
        assertEquals(new NbdOption.ListExports(), ch.readInbound());
        assertNull(ch.readInbound());
        assertFalse(ch.finish());
    }

    @Test
    void limitIsConfigurableAndExactLimitIsAccepted() {
        int limit = 8192;
        byte[] exact = option(wire().u32(1), OPT_LIST_META_CONTEXT,
                wire().u32(0).u32(1).u32(limit - 12).zeros(limit - 12).build()).build();
        List<Object> out = Pieces.decode(() -> new NbdHandshakeDecoder(limit), exact, Pieces.fixed(1000));
        // Within the limit, so parsed: the 8180-byte query is an over-long NBD string.
        assertEquals(NbdOption.Invalid.class, out.get(1).getClass());
        byte[] over = option(wire().u32(1), OPT_LIST_META_CONTEXT, new byte[limit + 1]).build();
        out = Pieces.decode(() -> new NbdHandshakeDecoder(limit), over, Pieces.fixed(1000));
        assertEquals(new NbdOption.TooBig(OPT_LIST_META_CONTEXT, limit + 1), out.get(1));
        assertThrows(IllegalArgumentException.class, () -> new NbdHandshakeDecoder(100));
    }

    @Test
    void unknownOptionsAreSkippedWithoutParsing() {
        byte[] bytes = option(option(option(wire().u32(1), 4242, new byte[] {9, 9, 9, 9, 9}),
                OPT_EXTENDED_HEADERS, new byte[0]), OPT_STRUCTURED_REPLY, new byte[0]).build();
        for (Pieces.Split split : Pieces.all()) {
            assertEquals(List.of(new NbdClientFlags(1), new NbdOption.Unknown(4242, 5),
                            new NbdOption.Unknown(OPT_EXTENDED_HEADERS, 0), new NbdOption.StructuredReply()),
                    Pieces.decode(NbdHandshakeDecoder::new, bytes, split));
        }
    }

    @Test
    void malformedKnownOptionsAreInvalid() {
        assertInvalid(OPT_LIST, new byte[] {0});
        assertInvalid(OPT_STARTTLS, new byte[] {0});
        assertInvalid(OPT_STRUCTURED_REPLY, new byte[] {0, 0});
        assertInvalid(OPT_GO, wire().u32(10).ascii("disk").u16(0).build()); // name runs past the data
        assertInvalid(OPT_GO, wire().u32(4).ascii("disk").u16(2).u16(3).build()); // count 2, one request
        assertInvalid(OPT_GO, wire().u32(0).u16(0).u8(0).build()); // trailing byte
        assertInvalid(OPT_INFO, new byte[] {0, 0, 0});
        assertInvalid(OPT_EXPORT_NAME, new byte[] {'a', 0, 'b'}); // NUL
        assertInvalid(OPT_EXPORT_NAME, new byte[] {(byte) 0xc3, 0x28}); // bad UTF-8
        assertInvalid(OPT_EXPORT_NAME, new byte[4097]); // over the string limit
        assertInvalid(OPT_SET_META_CONTEXT, wire().u32(0).u32(2).u32(1).ascii("x").build()); // missing query
        assertInvalid(OPT_SET_META_CONTEXT, wire().u32(0).u32(0).u8(1).build()); // trailing
        assertInvalid(OPT_LIST_META_CONTEXT, wire().u32(0).build()); // no count
        assertInvalid(OPT_LIST_META_CONTEXT, wire().u32(0).u32(0x7fffffff).build()); // hostile count
    }

    private static void assertInvalid(int code, byte[] data) {
        byte[] bytes = option(wire().u32(1), code, data).build();
        for (Pieces.Split split : List.of(Pieces.whole(), Pieces.fixed(1))) {
            List<Object> out = Pieces.decode(NbdHandshakeDecoder::new, bytes, split);
            assertEquals(2, out.size(), () -> "for option " + code + ": " + out);
            NbdOption.Invalid invalid = assertInstanceOf(NbdOption.Invalid.class, out.get(1));
            assertEquals(code, invalid.code());
            assertFalse(invalid.reason().isEmpty());
        }
    }

    @Test
    void badOptionMagicFailsOnceAndDropsTheRest() {
        byte[] bytes = wire().u32(1).u64(0x1122334455667788L).u32(1).u32(0)
                .bytes(option(wire(), OPT_LIST, new byte[0]).build()).build();
        EmbeddedChannel ch = new EmbeddedChannel(new NbdHandshakeDecoder());
        NbdBadMagicException e = assertThrows(NbdBadMagicException.class,
                () -> Pieces.feed(ch, bytes, Pieces.whole()));
        assertEquals(0x1122334455667788L, e.actual());
        assertEquals(IHAVEOPT, e.expected());
        assertEquals(new NbdClientFlags(1), ch.readInbound());
        ch.writeInbound(io.netty.buffer.Unpooled.wrappedBuffer(option(wire(), OPT_LIST, new byte[0]).build()));
        assertNull(ch.readInbound());
        ch.finishAndReleaseAll();
    }

    @Test
    void pausesAfterGoAndHandsPipelinedBytesToTheRequestDecoder() {
        byte[] go = option(wire().u32(1), OPT_GO, goData("", 3)).build();
        byte[] request = wire().u32(0x25609513).u16(0).u16(CMD_READ).u64(77).u64(4096).u32(512).build();
        byte[] bytes = wire().bytes(go).bytes(request).build();
        for (Pieces.Split split : Pieces.all()) {
            List<Object> seen = new ArrayList<>();
            NbdHandshakeDecoder decoder = new NbdHandshakeDecoder();
            EmbeddedChannel ch = new EmbeddedChannel();
            ch.pipeline().addLast("nbd", decoder).addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    seen.add(msg);
                    if (msg instanceof NbdOption.Go) {
                        // What the daemon does on a successful GO: swap decoders in place.
                        ctx.pipeline().replace("nbd", "nbd", new NbdRequestDecoder());
                    }
                }
            });
            Pieces.feed(ch, bytes, split);
            assertEquals(List.of(new NbdClientFlags(1), new NbdOption.Go("", List.of(3)),
                    new NbdRequest(0, CMD_READ, 77, 4096, 512)), seen);
            assertFalse(ch.finish());
        }
    }

    @Test
    void resumeAfterFailedGoDecodesWhatIsAlreadyBuffered() {
        byte[] bytes = option(option(wire().u32(1), OPT_GO, goData("nope")), OPT_LIST, new byte[0]).build();
        NbdHandshakeDecoder decoder = new NbdHandshakeDecoder();
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        Pieces.feed(ch, bytes, Pieces.whole());
        assertEquals(new NbdClientFlags(1), ch.readInbound());
        assertEquals(new NbdOption.Go("nope", List.of()), ch.readInbound());
        assertTrue(decoder.isPaused());
        assertNull(ch.readInbound());
        decoder.resumeOptions();
        assertFalse(decoder.isPaused());
        ch.runPendingTasks();
        assertEquals(new NbdOption.ListExports(), ch.readInbound());
        assertFalse(ch.finish());
    }

    @Test
    void resumeFromInsideChannelReadIsNotReentrant() {
        byte[] bytes = option(option(option(wire().u32(1), OPT_GO, goData("nope")), OPT_LIST, new byte[0]),
                OPT_GO, goData("")).build();
        for (Pieces.Split split : Pieces.all()) {
            List<Object> seen = new ArrayList<>();
            NbdHandshakeDecoder decoder = new NbdHandshakeDecoder();
            EmbeddedChannel ch = new EmbeddedChannel();
            ch.pipeline().addLast(decoder).addLast(new ChannelInboundHandlerAdapter() {
                @Override
                public void channelRead(ChannelHandlerContext ctx, Object msg) {
                    seen.add(msg);
                    if (msg instanceof NbdOption.Go go && go.exportName().equals("nope")) {
                        decoder.resumeOptions(); // as a server does after replying NBD_REP_ERR_UNKNOWN
                    }
                }
            });
            Pieces.feed(ch, bytes, split);
            ch.runPendingTasks();
            assertEquals(List.of(new NbdClientFlags(1), new NbdOption.Go("nope", List.of()),
                    new NbdOption.ListExports(), new NbdOption.Go("", List.of())), seen);
            assertTrue(decoder.isPaused());
            assertFalse(ch.finish());
        }
    }
}
