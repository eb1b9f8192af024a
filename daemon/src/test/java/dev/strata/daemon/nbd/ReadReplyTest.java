package dev.strata.daemon.nbd;

import dev.strata.daemon.TestImages;
import dev.strata.daemon.export.Export;
import dev.strata.daemon.export.ExportRegistry;
import dev.strata.daemon.export.ExportSpec;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.nbd.protocol.NbdReplyChunk;
import dev.strata.nbd.protocol.NbdSimpleReply;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.FileRegion;
import io.netty.util.ReferenceCountUtil;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.REPLY_FLAG_DONE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which messages a READ turns into: holes, sendfile regions, copied buffers. */
class ReadReplyTest {
    @TempDir
    static Path dir;
    static ExportRegistry registry;
    static Export raw;
    static Export comp;
    static HostFileRegions rawFiles;
    static HostFileRegions compFiles;

    @BeforeAll
    static void open() {
        TestImages images = TestImages.create(dir);
        registry = ExportRegistry.open(List.of(new ExportSpec("raw", images.base.toString(), "raw", "", false),
                new ExportSpec("comp", images.comp.toString(), null, "", false)), ChainOpener.standard(), false,
                CheckListener.ignoring());
        raw = registry.lookup("raw").orElseThrow();
        comp = registry.lookup("comp").orElseThrow();
        rawFiles = new HostFileRegions(raw);
        compFiles = new HostFileRegions(comp);
    }

    @AfterAll
    static void close() {
        if (registry != null) {
            rawFiles.close();
            compFiles.close();
            registry.close();
        }
    }

    private static List<Object> read(Export e, HostFileRegions f, long offset, long length, boolean structured, boolean df) {
        return ReadReply.build(e.image(), f, 1, offset, length, structured, df, ByteBufAllocator.DEFAULT);
    }

    @Test
    void rawDataGoesOutAsAFileRegionAndHolesAsHoleChunks() {
        // [0, 1M) data, [1M, 10M) hole in base.raw
        List<Object> m = read(raw, rawFiles, 0, 2 << 20, true, false);
        try {
            assertEquals(3, m.size(), m.toString());
            assertInstanceOf(NbdReplyChunk.OffsetDataHead.class, m.get(0));
            assertInstanceOf(FileRegion.class, m.get(1));
            assertEquals(1 << 20, ((FileRegion) m.get(1)).count());
            NbdReplyChunk.OffsetHole hole = assertInstanceOf(NbdReplyChunk.OffsetHole.class, m.get(2));
            assertEquals(1 << 20, hole.offset());
            assertEquals(REPLY_FLAG_DONE, hole.flags());
        } finally {
            m.forEach(ReferenceCountUtil::safeRelease);
        }
    }

    @Test
    void regionsStopAtTheEndOfTheHostFile() {
        // base.raw is 64 MiB - 100 bytes (virtual size 64 MiB); data fills its last 128 KiB - 100 bytes.
        long size = raw.size();
        List<Object> m = read(raw, rawFiles, size - 200_000, 200_000, true, false);
        try {
            assertEquals(4, m.size(), m.toString());
            assertEquals(200_000 - 131_072, assertInstanceOf(NbdReplyChunk.OffsetHole.class, m.get(0)).holeSize());
            assertEquals(131_072 - 100, assertInstanceOf(FileRegion.class, m.get(2)).count());
            NbdReplyChunk.OffsetHole tail = assertInstanceOf(NbdReplyChunk.OffsetHole.class, m.get(3));
            assertEquals(size - 100, tail.offset());
            assertEquals(100, tail.holeSize());
        } finally {
            m.forEach(ReferenceCountUtil::safeRelease);
        }
    }

    @Test
    void compressedDataIsCopiedAndDfGivesOneChunk() {
        List<Object> m = read(comp, compFiles, 0, 2 << 20, true, true);
        try {
            assertEquals(1, m.size());
            NbdReplyChunk.OffsetData d = assertInstanceOf(NbdReplyChunk.OffsetData.class, m.get(0));
            assertEquals(2 << 20, d.data().readableBytes());
            assertEquals((byte) 0xab, d.data().getByte(0));
        } finally {
            m.forEach(ReferenceCountUtil::safeRelease);
        }
    }

    @Test
    void simpleRepliesPutTheDataBehindOneHeader() {
        List<Object> m = read(raw, rawFiles, 0, 2 << 20, false, false);
        try {
            assertEquals(new NbdSimpleReply(1, 0), m.get(0));
            long total = 0;
            for (Object x : m.subList(1, m.size())) {
                total += x instanceof FileRegion r ? r.count() : ((ByteBuf) x).readableBytes();
            }
            assertEquals(2 << 20, total);
        } finally {
            m.forEach(ReferenceCountUtil::safeRelease);
        }
    }
}
