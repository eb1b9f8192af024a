package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;
import static dev.strata.nbd.protocol.WireBytes.wire;
import static org.junit.jupiter.api.Assertions.*;

/** Server-side request decoding, byte-exact against the spec's request layout. */
class NbdRequestDecoderTest {

    /** C: 32 bits magic, 16 bits flags, 16 bits type, 64 bits cookie, 64 bits offset, 32 bits length. */
    private static WireBytes request(WireBytes w, int flags, int type, long cookie, long offset, long length) {
        return w.u32(0x25609513).u16(flags).u16(type).u64(cookie).u64(offset).u32(length);
    }

    @Test
    void decodesEveryCommandInAnyPieces() {
        WireBytes w = wire();
        request(w, 0, 0, 1, 0, 512); // READ
        request(w, 1, 1, 2, 1024, 5).ascii("hello"); // WRITE + FUA
        request(w, 0, 3, 3, 0, 0); // FLUSH
        request(w, 0, 4, 4, 4096, 8192); // TRIM
        request(w, 0, 5, 5, 0, 65536); // CACHE
        request(w, 2 | 16, 6, 6, 0, 1L << 31); // WRITE_ZEROES + NO_HOLE + FAST_ZERO
        request(w, 8, 7, 7, 0, 0xffffffffL); // BLOCK_STATUS + REQ_ONE
        request(w, 0, 1, 8, 0, 0); // empty WRITE
        request(w, 0xffff, 42, -1L, -1L, 7); // unknown command, all bits set
        request(w, 0, 2, 9, 0, 0); // DISC
        byte[] bytes = w.build();
        for (Pieces.Split split : Pieces.all()) {
            List<Object> out = Pieces.decode(NbdRequestDecoder::new, bytes, split);
            assertEquals(List.of(
                    new NbdRequest(0, CMD_READ, 1, 0, 512),
                    NbdRequest.write(CMD_FLAG_FUA, 2, 1024, Unpooled.copiedBuffer("hello", java.nio.charset.StandardCharsets.US_ASCII)),
                    new NbdRequest(0, CMD_FLUSH, 3, 0, 0),
                    new NbdRequest(0, CMD_TRIM, 4, 4096, 8192),
                    new NbdRequest(0, CMD_CACHE, 5, 0, 65536),
                    new NbdRequest(CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 6, 0, 1L << 31),
                    new NbdRequest(CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, 7, 0, 0xffffffffL),
                    new NbdRequest(0, CMD_WRITE, 8, 0, 0),
                    new NbdRequest(0xffff, 42, -1L, -1L, 7),
                    new NbdRequest(0, CMD_DISC, 9, 0, 0)), out);
            NbdRequest write = (NbdRequest) out.get(1);
            assertTrue(write.hasFlag(CMD_FLAG_FUA));
            assertEquals(1, write.refCnt());
            Pieces.releaseAll(out);
            assertEquals(0, write.refCnt());
        }
    }

    @Test
    void oversizedWriteIsReportedAndSkippedWithoutBuffering() {
        byte[] head = request(wire(), 0, CMD_WRITE, 11, 4096, 100).build();
        byte[] rest = request(wire().zeros(100), 0, CMD_READ, 12, 0, 16).build();
        EmbeddedChannel ch = new EmbeddedChannel(new NbdRequestDecoder(64));
        Pieces.feed(ch, head, Pieces.fixed(3));
        // Reported before the data arrives, so the server can answer at once.
        assertEquals(new NbdOversizedWrite(0, 11, 4096, 100), ch.readInbound());
        Pieces.feed(ch, rest, Pieces.fixed(9));
        assertEquals(new NbdRequest(0, CMD_READ, 12, 0, 16), ch.readInbound());
        assertNull(ch.readInbound());
        assertFalse(ch.finish());
    }

    @Test
    void writeAtTheLimitIsAccepted() {
        byte[] bytes = request(wire(), 0, CMD_WRITE, 1, 0, 64).zeros(64).build();
        for (Pieces.Split split : Pieces.all()) {
            List<Object> out = Pieces.decode(() -> new NbdRequestDecoder(64), bytes, split);
            NbdRequest write = assertInstanceOf(NbdRequest.class, out.get(0));
            assertEquals(64, write.payload().readableBytes());
            Pieces.releaseAll(out);
        }
    }

    @Test
    void badMagicIsADistinctFailureAndLaterBytesAreIgnored() {
        assertBadMagic(0x12345678);
        assertBadMagic(EXTENDED_REQUEST_MAGIC); // extended headers are never negotiated
    }

    private static void assertBadMagic(int magic) {
        byte[] good = request(wire(), 0, CMD_READ, 1, 0, 512).build();
        byte[] bad = wire().bytes(good).u32(magic).zeros(24).bytes(good).build();
        EmbeddedChannel ch = new EmbeddedChannel(new NbdRequestDecoder());
        NbdBadMagicException e = assertThrows(NbdBadMagicException.class, () -> Pieces.feed(ch, bad, Pieces.whole()));
        assertEquals(Integer.toUnsignedLong(magic), e.actual());
        assertEquals(0x25609513L, e.expected());
        assertEquals(new NbdRequest(0, CMD_READ, 1, 0, 512), ch.readInbound());
        ch.writeInbound(Unpooled.wrappedBuffer(good));
        assertNull(ch.readInbound());
        ch.finishAndReleaseAll();
    }

    @Test
    void requestRecordChecksItsFields() {
        ByteBuf data = Unpooled.wrappedBuffer(new byte[3]);
        assertThrows(IllegalArgumentException.class, () -> new NbdRequest(0, CMD_WRITE, 1, 0, 4, data));
        assertThrows(IllegalArgumentException.class, () -> new NbdRequest(0, CMD_READ, 1, 0, 3, data));
        assertThrows(IllegalArgumentException.class, () -> new NbdRequest(0x10000, CMD_READ, 1, 0, 3));
        assertThrows(IllegalArgumentException.class, () -> new NbdRequest(0, CMD_READ, 1, 0, 1L << 32));
        assertEquals("NBD_CMD_BLOCK_STATUS", new NbdRequest(0, CMD_BLOCK_STATUS, 1, 0, 1).commandName());
    }
}
