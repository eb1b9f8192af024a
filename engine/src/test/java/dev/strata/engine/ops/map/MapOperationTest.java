package dev.strata.engine.ops.map;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.RawFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The entries qemu-img map dumps: range arithmetic, the empty-range entry, streaming. */
class MapOperationTest {
    @TempDir
    Path dir;

    private Image open(Path p) {
        return ChainOpener.standard().open(p.toString(), "raw", OpenOptions.readOnlyChain());
    }

    @Test
    void rangeIsClippedToTheImage() throws Exception {
        Path f = RawFiles.sparse(dir.resolve("r"), 1 << 20);
        RawFiles.fill(f, 65536, 65536, 1);
        try (Image img = open(f)) {
            List<Extent> all = MapOperation.map(img, 0, MapOperation.NO_LIMIT);
            assertEquals(0, all.get(0).start());
            assertEquals(1 << 20, all.get(all.size() - 1).end());
            List<Extent> part = MapOperation.map(img, 512, 1536);
            assertEquals(1, part.size());
            assertEquals(512, part.get(0).start());
            assertEquals(1536, part.get(0).length());
            assertEquals(512, part.get(0).offset());
        }
    }

    @Test
    void emptyRangesDumpOneZeroLengthEntry() throws Exception {
        Path f = RawFiles.sparse(dir.resolve("r"), 1 << 20);
        try (Image img = open(f)) {
            for (long[] range : new long[][] {{2 << 20, MapOperation.NO_LIMIT}, {0, 0},
                    {Long.MAX_VALUE, 10}}) {
                List<Extent> l = MapOperation.map(img, range[0], range[1]);
                assertEquals(1, l.size());
                Extent e = l.get(0);
                assertEquals(range[0], e.start());
                assertEquals(0, e.length());
                assertFalse(e.present() || e.zero() || e.data() || e.hasOffset());
            }
        }
    }

    @Test
    void entriesAreHandedOutAsTheyCompleteAndTheSinkCanStop() throws Exception {
        Path f = RawFiles.sparse(dir.resolve("r"), 1 << 20);
        RawFiles.fill(f, 0, 4096, 1);
        RawFiles.fill(f, 65536, 65536, 1);
        try (Image img = open(f)) {
            List<Boolean> lasts = new ArrayList<>();
            assertTrue(MapOperation.walk(img, 0, MapOperation.NO_LIMIT, (e, last) -> lasts.add(last)));
            assertEquals(4, lasts.size());
            assertEquals(List.of(false, false, false, true), lasts);
            int[] seen = {0};
            assertFalse(MapOperation.walk(img, 0, MapOperation.NO_LIMIT, (e, last) -> ++seen[0] < 2));
            assertEquals(2, seen[0]);
        }
    }
}
