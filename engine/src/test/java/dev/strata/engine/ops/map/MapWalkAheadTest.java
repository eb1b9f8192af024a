package dev.strata.engine.ops.map;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pipelined walk hands the sink exactly what the plain walk does. */
class MapWalkAheadTest {
    @TempDir
    Path dir;

    /** A raw file with 3000 data islands, so the map has 6000+ entries (several batches). */
    private Image islands() throws Exception {
        Path p = dir.resolve("islands.raw");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(3000L * 64 * 1024);
            for (int i = 0; i < 3000; i++) {
                f.seek(i * 64L * 1024);
                f.write(new byte[] {1});
            }
        }
        return ChainOpener.standard().open(p.toString(), "raw", OpenOptions.readOnlyChain());
    }

    private record Seen(Extent extent, boolean last) {
    }

    @Test
    void sameEntriesAndLastFlagAsThePlainWalk() throws Exception {
        try (Image img = islands()) {
            List<Seen> plain = new ArrayList<>();
            List<Seen> ahead = new ArrayList<>();
            assertTrue(MapOperation.walk(img, 0, MapOperation.NO_LIMIT, (e, last) -> plain.add(new Seen(e, last))));
            assertTrue(MapOperation.walkAhead(img, 0, MapOperation.NO_LIMIT, MapOperation.Refusal.NONE, (e, last) -> ahead.add(new Seen(e, last))));
            assertTrue(plain.size() > 5000, "entries: " + plain.size());
            assertEquals(plain, ahead);
        }
    }

    @Test
    void aSinkThatStopsEndsTheWalk() throws Exception {
        try (Image img = islands()) {
            List<Extent> got = new ArrayList<>();
            assertFalse(MapOperation.walkAhead(img, 0, MapOperation.NO_LIMIT, MapOperation.Refusal.NONE, (e, last) -> {
                got.add(e);
                return got.size() < 1500;
            }));
            assertEquals(1500, got.size());
        }
    }

    @Test
    void anEmptyRangeStillGivesQemusSingleEntry() throws Exception {
        try (Image img = islands()) {
            List<Seen> ahead = new ArrayList<>();
            MapOperation.walkAhead(img, img.size(), MapOperation.NO_LIMIT, MapOperation.Refusal.NONE, (e, last) -> ahead.add(new Seen(e, last)));
            assertEquals(1, ahead.size());
            assertTrue(ahead.get(0).last());
            assertEquals(0, ahead.get(0).extent().length());
        }
    }
}
