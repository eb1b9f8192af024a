package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.FileRegion;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

import static dev.strata.nbd.protocol.NbdConstants.*;
import static dev.strata.nbd.protocol.WireBytes.wire;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Server reply encoder byte-exact against the spec's simple reply and chunk layouts; client
 * reply decoder on the same bytes in pieces; the zero-copy FileRegion path.
 */
class NbdReplyCodecTest {

    private static ByteBuf ascii(String s) {
        return Unpooled.copiedBuffer(s, StandardCharsets.US_ASCII);
    }

    /** S: 32 bits magic, 16 bits flags, 16 bits type, 64 bits cookie, 32 bits length, payload. */
    private static WireBytes chunk(WireBytes w, int flags, int type, long cookie, byte[] payload) {
        return w.u32(0x668e33ef).u16(flags).u16(type).u64(cookie).u32(payload.length).bytes(payload);
    }

    @Test
    void repliesAreByteExactAndDecodeBackInAnyPieces() {
        List<NbdReply> replies = List.of(
                new NbdSimpleReply(1, 0),
                new NbdSimpleReply(2, EIO),
                new NbdSimpleReply(3, 0, ascii("simple data")),
                new NbdReplyChunk.OffsetData(4, 0, 4096, ascii("chunk data")),
                new NbdReplyChunk.OffsetHole(4, 0, 4106, 1000),
                new NbdReplyChunk.None(4),
                new NbdReplyChunk.BlockStatus(5, 0, 1, List.of(new NbdExtent(65536, 0), new NbdExtent(4096, 3))),
                new NbdReplyChunk.BlockStatus(5, REPLY_FLAG_DONE, 2, List.of(new NbdExtent(0xffffffffL, 2))),
                new NbdReplyChunk.Error(6, 0, EINVAL, "bad flags"),
                new NbdReplyChunk.ErrorOffset(6, 0, EIO, "", 8192),
                new NbdReplyChunk.Error(6, REPLY_FLAG_DONE, ENOSPC, ""),
                new NbdReplyChunk.OffsetData(7, REPLY_FLAG_DONE, 0, ascii("x")),
                new NbdReplyChunk.Unknown(8, REPLY_FLAG_DONE, 0x8042, new byte[] {0, 0, 0, 5, 0, 0}));
        byte[] expected = wire()
                .u32(0x67446698).u32(0).u64(1)
                .u32(0x67446698).u32(5).u64(2)
                .u32(0x67446698).u32(0).u64(3).ascii("simple data")
                .bytes(chunk(wire(), 0, 1, 4, wire().u64(4096).ascii("chunk data").build()).build())
                .bytes(chunk(wire(), 0, 2, 4, wire().u64(4106).u32(1000).build()).build())
                .bytes(chunk(wire(), 1, 0, 4, new byte[0]).build())
                .bytes(chunk(wire(), 0, 5, 5, wire().u32(1).u32(65536).u32(0).u32(4096).u32(3).build()).build())
                .bytes(chunk(wire(), 1, 5, 5, wire().u32(2).u32(0xffffffffL).u32(2).build()).build())
                .bytes(chunk(wire(), 0, 0x8001, 6, wire().u32(22).u16(9).ascii("bad flags").build()).build())
                .bytes(chunk(wire(), 0, 0x8002, 6, wire().u32(5).u16(0).u64(8192).build()).build())
                .bytes(chunk(wire(), 1, 0x8001, 6, wire().u32(28).u16(0).build()).build())
                .bytes(chunk(wire(), 1, 1, 7, wire().u64(0).ascii("x").build()).build())
                .bytes(chunk(wire(), 1, 0x8042, 8, new byte[] {0, 0, 0, 5, 0, 0}).build())
                .build();

        EmbeddedChannel out = new EmbeddedChannel(new NbdReplyEncoder());
        for (NbdReply reply : replies) {
            out.writeOutbound(reply.getClass() == NbdSimpleReply.class || reply instanceof NbdReplyChunk.OffsetData
                    ? ((io.netty.util.ReferenceCounted) reply).retain() : reply);
        }
        assertArrayEquals(expected, Pieces.outbound(out));
        assertFalse(out.finish());

        Map<Long, Long> readLengths = Map.of(3L, 11L, 2L, 512L);
        for (Pieces.Split split : Pieces.all()) {
            List<Object> decoded = Pieces.decode(
                    () -> new NbdReplyDecoder(cookie -> readLengths.getOrDefault(cookie, 0L)), expected, split);
            assertEquals(replies.size(), decoded.size());
            for (int i = 0; i < replies.size(); i++) {
                Object want = replies.get(i);
                Object got = decoded.get(i);
                if (want instanceof NbdReplyChunk.Unknown u) {
                    NbdReplyChunk.Unknown g = (NbdReplyChunk.Unknown) got;
                    assertEquals(u.type(), g.type());
                    assertArrayEquals(u.payload(), g.payload());
                    assertTrue(g.isError());
                    assertTrue(g.done());
                } else {
                    assertEquals(want, got, "reply " + i);
                }
            }
            Pieces.releaseAll(decoded);
        }
        replies.forEach(io.netty.util.ReferenceCountUtil::release);
    }

    @Test
    void encoderPassesDataBuffersOnWithoutCopying() {
        ByteBuf data = Unpooled.directBuffer(8).writeLong(42);
        EmbeddedChannel out = new EmbeddedChannel(new NbdReplyEncoder());
        out.writeOutbound(new NbdReplyChunk.OffsetData(9, REPLY_FLAG_DONE, 512, data));
        ByteBuf header = out.readOutbound();
        ByteBuf body = out.readOutbound();
        assertEquals(NbdReplyChunk.HEADER_LENGTH + 8, header.readableBytes());
        assertSame(data, body);
        assertEquals(1, data.refCnt());
        header.release();
        body.release();
        assertFalse(out.finish());
    }

    @Test
    void offsetDataHeadThenFileRegionGoOutInOrder(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("data");
        Files.write(file, "0123456789abcdef".getBytes(StandardCharsets.US_ASCII));
        EmbeddedChannel out = new EmbeddedChannel(new NbdReplyEncoder());
        try (FileChannel fc = FileChannel.open(file, StandardOpenOption.READ)) {
            out.write(new NbdReplyChunk.OffsetDataHead(10, REPLY_FLAG_DONE, 1 << 20, 6));
            out.writeAndFlush(new DefaultFileRegion(fc, 4, 6));
            byte[] head = Pieces.bytes(out.readOutbound());
            // The length field (14) covers the 8-byte offset and the 6 bytes of the region.
            assertArrayEquals(wire().u32(0x668e33ef).u16(1).u16(1).u64(10).u32(14).u64(1 << 20).build(), head);
            FileRegion region = assertInstanceOf(FileRegion.class, out.readOutbound());
            assertEquals(6, region.count());
            assertEquals(4, region.position());
            region.release();

            out.write(new NbdSimpleReply(11, 0));
            out.writeAndFlush(new DefaultFileRegion(fc, 0, 16));
            assertArrayEquals(wire().u32(0x67446698).u32(0).u64(11).build(), Pieces.bytes(out.readOutbound()));
            ((FileRegion) out.readOutbound()).release();
        }
        assertFalse(out.finish());
    }

    @Test
    void decoderRejectsInconsistentChunks() {
        assertProtocolError(chunk(wire(), 0, 0, 1, new byte[0]).build()); // NONE without DONE
        assertProtocolError(chunk(wire(), 1, 0, 1, new byte[4]).build()); // NONE with payload
        assertProtocolError(chunk(wire(), 1, 1, 1, new byte[8]).build()); // OFFSET_DATA without data
        assertProtocolError(chunk(wire(), 1, 2, 1, new byte[11]).build()); // OFFSET_HOLE short
        assertProtocolError(chunk(wire(), 1, 2, 1, wire().u64(0).u32(0).build()).build()); // hole of 0
        assertProtocolError(chunk(wire(), 1, 5, 1, wire().u32(1).build()).build()); // no extents
        assertProtocolError(chunk(wire(), 1, 5, 1, wire().u32(1).u32(8).build()).build()); // half extent
        assertProtocolError(chunk(wire(), 1, 5, 1, wire().u32(1).u32(0).u32(0).build()).build()); // extent of 0
        assertProtocolError(chunk(wire(), 1, 0x8001, 1, wire().u32(5).u16(3).ascii("ab").build()).build());
        assertProtocolError(chunk(wire(), 1, 0x8001, 1, wire().u32(0).u16(0).build()).build()); // error 0
        assertProtocolError(chunk(wire(), 1, 0x8002, 1, wire().u32(5).u16(0).build()).build()); // no offset
        assertProtocolError(wire().u32(0x6e8a278c).zeros(28).build()); // extended reply magic
        assertProtocolError(wire().u32(0x668e33ef).u16(1).u16(1).u64(1).u32(0x7fffffff).build()); // hostile length
    }

    private static void assertProtocolError(byte[] bytes) {
        for (Pieces.Split split : List.of(Pieces.whole(), Pieces.fixed(1))) {
            EmbeddedChannel ch = new EmbeddedChannel(new NbdReplyDecoder(cookie -> 0));
            assertThrows(NbdProtocolException.class, () -> Pieces.feed(ch, bytes, split));
            // After the failure, further bytes are ignored rather than misparsed.
            ch.writeInbound(Unpooled.wrappedBuffer(wire().u32(0x67446698).u32(0).u64(1).build()));
            assertNull(ch.readInbound());
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void chunkRecordsCheckTheirFields() {
        assertThrows(IllegalArgumentException.class, () -> new NbdReplyChunk.OffsetHole(1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new NbdReplyChunk.BlockStatus(1, 0, 1, List.of()));
        assertThrows(IllegalArgumentException.class, () -> new NbdReplyChunk.Error(1, 0, 0, ""));
        assertThrows(IllegalArgumentException.class, () -> new NbdReplyChunk.Error(1, 0, EIO, "x".repeat(4097)));
        assertThrows(IllegalArgumentException.class, () -> new NbdReplyChunk.OffsetDataHead(1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new NbdExtent(0, 0));
        assertThrows(IllegalArgumentException.class, () -> new NbdSimpleReply(1, EIO, ascii("x")));
        assertTrue(new NbdReplyChunk.None(1).done());
        assertTrue(new NbdReplyChunk.Error(1, 0, EIO, "").isError());
        assertFalse(new NbdReplyChunk.OffsetHole(1, 0, 0, 1).done());
    }
}
