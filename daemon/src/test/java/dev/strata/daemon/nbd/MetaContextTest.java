package dev.strata.daemon.nbd;

import dev.strata.daemon.export.Export;
import dev.strata.engine.format.CompressedUnit;
import dev.strata.engine.image.Capabilities;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.Layer;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;

import static dev.strata.daemon.nbd.MetaContext.ALLOCATION_DEPTH;
import static dev.strata.daemon.nbd.MetaContext.BASE_ALLOCATION;
import static dev.strata.nbd.protocol.NbdConstants.OPT_LIST_META_CONTEXT;
import static dev.strata.nbd.protocol.NbdConstants.OPT_SET_META_CONTEXT;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** QEMU's query rules for meta contexts, and the flags block status derives from extents. */
class MetaContextTest {
    private static Export export(boolean depth) {
        Image img = new Image() {
            public long size() { return 1 << 20; }
            public List<Layer> layers() { return List.of(); }
            public void read(ByteBuffer dst, long offset) { }
            public Extent blockStatusAt(long offset, long maxLength) { throw new UnsupportedOperationException(); }
            public List<Extent> blockStatus(long offset, long length) { throw new UnsupportedOperationException(); }
            public void write(ByteBuffer src, long offset) { throw new UnsupportedOperationException(); }
            public void writeZeroes(long offset, long length, boolean mayUnmap) { throw new UnsupportedOperationException(); }
            public void discard(long offset, long length) { throw new UnsupportedOperationException(); }
            public int compressedUnit() { return 0; }
            public CompressedUnit compress(ByteBuffer src, long offset) { throw new UnsupportedOperationException(); }
            public void writeCompressed(CompressedUnit unit) { throw new UnsupportedOperationException(); }
            public void flush() { }
            public Capabilities capabilities() { return Capabilities.readOnly(); }
            public void close() { }
        };
        return new Export("x", "", img, Capabilities.readOnly(), depth, "x.img");
    }

    @Test
    void listWithoutQueriesListsWhatTheExportOffers() {
        assertEquals(List.of(BASE_ALLOCATION, ALLOCATION_DEPTH), MetaContext.match(export(true), OPT_LIST_META_CONTEXT, List.of()));
        assertEquals(List.of(BASE_ALLOCATION), MetaContext.match(export(false), OPT_LIST_META_CONTEXT, List.of()));
    }

    @Test
    void setWithoutQueriesSelectsNothing() {
        assertEquals(List.of(), MetaContext.match(export(true), OPT_SET_META_CONTEXT, List.of()));
    }

    @Test
    void namespaceQueriesWorkForListOnly() {
        assertEquals(List.of(ALLOCATION_DEPTH), MetaContext.match(export(true), OPT_LIST_META_CONTEXT, List.of("qemu:")));
        assertEquals(List.of(BASE_ALLOCATION), MetaContext.match(export(true), OPT_LIST_META_CONTEXT, List.of("base:")));
        assertEquals(List.of(), MetaContext.match(export(true), OPT_SET_META_CONTEXT, List.of("qemu:", "base:")));
        assertEquals(List.of(), MetaContext.match(export(false), OPT_LIST_META_CONTEXT, List.of("qemu:")));
    }

    @Test
    void fullNamesSelectInContextOrderOnce() {
        assertEquals(List.of(BASE_ALLOCATION, ALLOCATION_DEPTH), MetaContext.match(export(true), OPT_SET_META_CONTEXT,
                List.of("qemu:allocation-depth", "base:allocation", "base:allocation", "qemu:dirty-bitmap:x", "x:y")));
        assertEquals(List.of(BASE_ALLOCATION), MetaContext.match(export(false), OPT_SET_META_CONTEXT,
                List.of("qemu:allocation-depth", "base:allocation")));
    }

    @Test
    void flagsFollowQemu() {
        Extent data = new Extent(0, 512, 0, true, false, true, false, 0, "f");
        Extent zeroAllocated = new Extent(0, 512, 1, true, true, false, false, -1, null);
        Extent unallocated = new Extent(0, 512, 1, false, true, false, false, -1, null);
        Extent dataAndZero = new Extent(0, 512, 0, true, true, true, false, 0, "f");
        assertEquals(0, BlockStatusReply.flagsOf(BASE_ALLOCATION, data));
        assertEquals(3, BlockStatusReply.flagsOf(BASE_ALLOCATION, zeroAllocated));
        assertEquals(2, BlockStatusReply.flagsOf(BASE_ALLOCATION, dataAndZero));
        assertEquals(1, BlockStatusReply.flagsOf(ALLOCATION_DEPTH, data));
        assertEquals(2, BlockStatusReply.flagsOf(ALLOCATION_DEPTH, zeroAllocated));
        assertEquals(0, BlockStatusReply.flagsOf(ALLOCATION_DEPTH, unallocated));
    }
}
