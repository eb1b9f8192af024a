package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;
import static dev.strata.nbd.protocol.WireBytes.wire;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Server handshake encoder byte-exact against the spec, client handshake reply decoder on the
 * same bytes in pieces, and the client option encoder against the server decoder.
 */
class NbdHandshakeCodecTest {

    private static byte[] encode(NbdServerHandshakeMessage... messages) {
        EmbeddedChannel ch = new EmbeddedChannel(new NbdHandshakeEncoder());
        for (NbdServerHandshakeMessage m : messages) {
            assertTrue(ch.writeOutbound(m));
        }
        byte[] bytes = Pieces.outbound(ch);
        assertFalse(ch.finish());
        return bytes;
    }

    /** S: 64 bits reply magic, 32 bits option, 32 bits reply type, 32 bits length, data. */
    private static WireBytes reply(WireBytes w, int option, long type, byte[] data) {
        return w.u64(0x3e889045565a9L).u32(option).u32(type).u32(data.length).bytes(data);
    }

    @Test
    void greetingIsNbdmagicIhaveoptAndFlags() {
        assertArrayEquals(wire().ascii("NBDMAGIC").ascii("IHAVEOPT").u16(3).build(),
                encode(NbdServerGreeting.fixedNewstyle()));
    }

    @Test
    void exportNameReplyWithAndWithoutZeroes() {
        assertArrayEquals(wire().u64(1L << 40).u16(0x0d03).zeros(124).build(),
                encode(new NbdExportNameReply(1L << 40, 0x0d03, true)));
        assertArrayEquals(wire().u64(1L << 40).u16(0x0d03).build(),
                encode(new NbdExportNameReply(1L << 40, 0x0d03, false)));
    }

    @Test
    void optionRepliesAreByteExactAndDecodeBackInAnyPieces() {
        List<NbdServerHandshakeMessage> messages = List.of(
                new NbdServerGreeting(1),
                new NbdOptionReply.Ack(OPT_STRUCTURED_REPLY),
                new NbdOptionReply.Server(OPT_LIST, "disk", "a test disk"),
                new NbdOptionReply.Server(OPT_LIST, "", ""),
                new NbdOptionReply.Ack(OPT_LIST),
                new NbdOptionReply.MetaContext(OPT_SET_META_CONTEXT, 7, "base:allocation"),
                new NbdOptionReply.Error(OPT_INFO, REP_ERR_UNKNOWN, "no such export"),
                new NbdOptionReply.Error(OPT_STARTTLS, REP_ERR_POLICY, ""),
                new NbdOptionReply.Info(OPT_INFO, new NbdInfo.Name("disk")),
                new NbdOptionReply.Info(OPT_INFO, new NbdInfo.Description("about")),
                new NbdOptionReply.Info(OPT_GO, new NbdInfo.Export(10_485_760, 0x0581)),
                new NbdOptionReply.Info(OPT_GO, new NbdInfo.BlockSize(1, 4096, 0xffffffffL)),
                new NbdOptionReply.Ack(OPT_GO));
        byte[] expected = wire()
                .ascii("NBDMAGIC").ascii("IHAVEOPT").u16(1)
                .bytes(reply(wire(), 8, 1, new byte[0]).build())
                .bytes(reply(wire(), 3, 2, wire().u32(4).ascii("disk").ascii("a test disk").build()).build())
                .bytes(reply(wire(), 3, 2, wire().u32(0).build()).build())
                .bytes(reply(wire(), 3, 1, new byte[0]).build())
                .bytes(reply(wire(), 10, 4, wire().u32(7).ascii("base:allocation").build()).build())
                .bytes(reply(wire(), 6, 0x80000006L, wire().ascii("no such export").build()).build())
                .bytes(reply(wire(), 5, 0x80000002L, new byte[0]).build())
                .bytes(reply(wire(), 6, 3, wire().u16(1).ascii("disk").build()).build())
                .bytes(reply(wire(), 6, 3, wire().u16(2).ascii("about").build()).build())
                .bytes(reply(wire(), 7, 3, wire().u16(0).u64(10_485_760).u16(0x0581).build()).build())
                .bytes(reply(wire(), 7, 3, wire().u16(3).u32(1).u32(4096).u32(0xffffffffL).build()).build())
                .bytes(reply(wire(), 7, 1, new byte[0]).build())
                .build();
        assertArrayEquals(expected, encode(messages.toArray(new NbdServerHandshakeMessage[0])));
        for (Pieces.Split split : Pieces.all()) {
            assertEquals(messages, Pieces.decode(NbdHandshakeReplyDecoder::new, expected, split));
        }
    }

    @Test
    void clientDecoderGoesDormantAfterGoAck() {
        byte[] bytes = wire().ascii("NBDMAGIC").ascii("IHAVEOPT").u16(3)
                .bytes(reply(wire(), OPT_GO, REP_ACK, new byte[0]).build())
                .u32(0x67446698).u32(0).u64(1) // a transmission reply: must not be decoded here
                .build();
        NbdHandshakeReplyDecoder decoder = new NbdHandshakeReplyDecoder();
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        Pieces.feed(ch, bytes, Pieces.fixed(3));
        assertEquals(new NbdServerGreeting(3), ch.readInbound());
        assertEquals(new NbdOptionReply.Ack(OPT_GO), ch.readInbound());
        assertNull(ch.readInbound());
        assertTrue(decoder.isDormant());
        ch.pipeline().replace(decoder, "replies", new NbdReplyDecoder(cookie -> 0));
        assertEquals(new NbdSimpleReply(1, 0), ch.readInbound());
        assertFalse(ch.finish());
    }

    @Test
    void clientDecoderReadsExportNameReplyWhenTold() {
        for (boolean padding : new boolean[] {true, false}) {
            WireBytes w = wire().ascii("NBDMAGIC").ascii("IHAVEOPT").u16(1);
            byte[] greeting = w.build();
            WireBytes r = wire().u64(4096).u16(1);
            if (padding) {
                r.zeros(124);
            }
            NbdHandshakeReplyDecoder decoder = new NbdHandshakeReplyDecoder();
            EmbeddedChannel ch = new EmbeddedChannel(decoder);
            Pieces.feed(ch, greeting, Pieces.fixed(5));
            assertEquals(new NbdServerGreeting(1), ch.readInbound());
            decoder.expectExportNameReply(padding);
            Pieces.feed(ch, r.build(), Pieces.fixed(3));
            assertEquals(new NbdExportNameReply(4096, 1, padding), ch.readInbound());
            assertTrue(decoder.isDormant());
            assertFalse(ch.finish());
        }
    }

    @Test
    void clientDecoderRejectsBrokenServers() {
        assertProtocolError(wire().ascii("NBDMAGIX").ascii("IHAVEOPT").u16(1).build(), NbdBadMagicException.class);
        assertProtocolError(wire().ascii("NBDMAGIC").u64(0x00420281861253L).u64(0).u32(0).zeros(124).build(),
                NbdProtocolException.class); // oldstyle
        byte[] greeting = wire().ascii("NBDMAGIC").ascii("IHAVEOPT").u16(1).build();
        assertProtocolError(wire().bytes(greeting).u64(0x3e889045565a8L).u32(1).u32(1).u32(0).build(),
                NbdBadMagicException.class);
        assertProtocolError(wire().bytes(greeting).bytes(reply(wire(), 7, REP_ACK, new byte[1]).build()).build(),
                NbdProtocolException.class); // ACK with data
        assertProtocolError(wire().bytes(greeting).bytes(reply(wire(), 7, REP_INFO,
                wire().u16(0).u64(1).build()).build()).build(), NbdProtocolException.class); // short INFO_EXPORT
        assertProtocolError(wire().bytes(greeting).bytes(reply(wire(), 3, REP_SERVER,
                wire().u32(9).ascii("abc").build()).build()).build(), NbdProtocolException.class); // name too long
        assertProtocolError(wire().bytes(greeting).u64(0x3e889045565a9L).u32(3).u32(2).u32(0x7fffffff).build(),
                NbdProtocolException.class); // hostile reply length
    }

    private static void assertProtocolError(byte[] bytes, Class<? extends NbdProtocolException> type) {
        for (Pieces.Split split : List.of(Pieces.whole(), Pieces.fixed(1))) {
            EmbeddedChannel ch = new EmbeddedChannel(new NbdHandshakeReplyDecoder());
            assertThrows(type, () -> Pieces.feed(ch, bytes, split));
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void unknownInfoAndReplyTypesArePassedOn() {
        byte[] bytes = wire().ascii("NBDMAGIC").ascii("IHAVEOPT").u16(1)
                .bytes(reply(wire(), 6, REP_INFO, wire().u16(99).u8(1).u8(2).build()).build())
                .bytes(reply(wire(), 6, 77, wire().u8(5).build()).build())
                .build();
        List<Object> out = Pieces.decode(NbdHandshakeReplyDecoder::new, bytes, Pieces.fixed(1));
        NbdInfo.Unknown info = (NbdInfo.Unknown) ((NbdOptionReply.Info) out.get(1)).info();
        assertEquals(99, info.type());
        assertArrayEquals(new byte[] {1, 2}, info.data());
        NbdOptionReply.Unknown unknown = (NbdOptionReply.Unknown) out.get(2);
        assertEquals(77, unknown.type());
        assertArrayEquals(new byte[] {5}, unknown.data());
        assertFalse(unknown.isError());
    }

    @Test
    void clientOptionEncoderIsByteExactAndRoundTripsThroughTheServerDecoder() {
        List<NbdClientHandshakeMessage> messages = List.of(
                new NbdClientFlags(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES),
                new NbdOption.StructuredReply(),
                new NbdOption.ListExports(),
                new NbdOption.StartTls(),
                new NbdOption.ListMetaContext("disk", List.of("qemu:")),
                new NbdOption.SetMetaContext("disk", List.of("base:allocation", "qemu:dirty-bitmap:b0")),
                new NbdOption.Info("", List.of()),
                new NbdOption.Unknown(99, 3),
                new NbdOption.Go("disk", List.of(INFO_BLOCK_SIZE, INFO_NAME)));
        EmbeddedChannel out = new EmbeddedChannel(new NbdOptionEncoder());
        messages.forEach(out::writeOutbound);
        byte[] bytes = Pieces.outbound(out);
        byte[] expected = wire().u32(3)
                .u64(IHAVEOPT).u32(8).u32(0)
                .u64(IHAVEOPT).u32(3).u32(0)
                .u64(IHAVEOPT).u32(5).u32(0)
                .u64(IHAVEOPT).u32(9).u32(4 + 4 + 4 + 4 + 5).u32(4).ascii("disk").u32(1).u32(5).ascii("qemu:")
                .u64(IHAVEOPT).u32(10).u32(4 + 4 + 4 + 4 + 15 + 4 + 20).u32(4).ascii("disk").u32(2)
                .u32(15).ascii("base:allocation").u32(20).ascii("qemu:dirty-bitmap:b0")
                .u64(IHAVEOPT).u32(6).u32(6).u32(0).u16(0)
                .u64(IHAVEOPT).u32(99).u32(3).zeros(3)
                .u64(IHAVEOPT).u32(7).u32(4 + 4 + 2 + 4).u32(4).ascii("disk").u16(2).u16(3).u16(1)
                .build();
        assertArrayEquals(expected, bytes);
        for (Pieces.Split split : Pieces.all()) {
            List<Object> decoded = Pieces.decode(NbdHandshakeDecoder::new, bytes, split);
            // StartTls pauses the server decoder: the rest waits for the TLS upgrade.
            assertEquals(messages.subList(0, 4), decoded);
        }
        assertThrows(Exception.class, () -> new EmbeddedChannel(new NbdOptionEncoder())
                .writeOutbound(new NbdOption.TooBig(1, 5)));
        assertThrows(Exception.class, () -> new EmbeddedChannel(new NbdOptionEncoder())
                .writeOutbound(new NbdOption.ExportName("x".repeat(4097))));
    }

    @Test
    void exportNameReplyRecordHelpers() {
        assertEquals(134, new NbdExportNameReply(0, 1, true).wireLength());
        assertEquals(10, new NbdExportNameReply(0, 1, false).wireLength());
        ByteBuf buf = Unpooled.buffer();
        NbdHandshakeEncoder.encode(new NbdServerGreeting(0), buf);
        assertEquals(NbdServerGreeting.LENGTH, buf.readableBytes());
        assertFalse(new NbdServerGreeting(0).fixedNewstyleOffered());
        assertThrows(IllegalArgumentException.class, () -> new NbdOptionReply.Error(1, REP_ACK, ""));
    }
}
