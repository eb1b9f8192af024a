package dev.strata.engine.ops.compare;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.RawFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** qemu-img compare semantics on raw files (offsets are those the real qemu-img reports). */
class CompareOperationTest {
    @TempDir
    Path dir;

    private CompareResult compare(Path a, Path b, boolean strict) {
        try (Image i1 = ChainOpener.standard().open(a.toString(), "raw", OpenOptions.readOnlyChain());
             Image i2 = ChainOpener.standard().open(b.toString(), "raw", OpenOptions.readOnlyChain())) {
            return CompareOperation.compare(i1, "a", i2, "b", strict, CompareOperation.Progress.NONE);
        }
    }

    @Test
    void identicalAndFirstDifferingSector() throws Exception {
        Path a = RawFiles.sparse(dir.resolve("a"), 1 << 20);
        Path b = RawFiles.sparse(dir.resolve("b"), 1 << 20);
        RawFiles.fill(a, 1000, 1, 'x');
        RawFiles.fill(b, 1000, 1, 'x');
        assertEquals(CompareResult.Outcome.IDENTICAL, compare(a, b, false).outcome());
        RawFiles.fill(b, 700, 1, 'y');
        CompareResult r = compare(a, b, false);
        assertEquals(CompareResult.Outcome.CONTENT_MISMATCH, r.outcome());
        assertEquals(512, r.offset());
        assertEquals(1, r.outcome().exitCode());
    }

    @Test
    void differentSizes() throws Exception {
        Path a = RawFiles.sparse(dir.resolve("a"), 1 << 20);
        Path b = RawFiles.sparse(dir.resolve("b"), 2 << 20);
        CompareResult r = compare(a, b, false);
        assertEquals(CompareResult.Outcome.IDENTICAL, r.outcome());
        assertTrue(r.sizeWarning());
        assertEquals(CompareResult.Outcome.SIZE_MISMATCH, compare(a, b, true).outcome());
        RawFiles.fill(b, 1_500_000, 1, 'z');
        r = compare(b, a, false);
        assertEquals(CompareResult.Outcome.CONTENT_MISMATCH, r.outcome());
        assertEquals(1_499_648, r.offset());
        assertTrue(r.sizeWarning());
    }

    @Test
    void strictComparesBlockStatus() throws Exception {
        Path a = RawFiles.sparse(dir.resolve("a"), 1 << 20);
        Path b = RawFiles.sparse(dir.resolve("b"), 1 << 20);
        RawFiles.fill(b, 65536, 4096, 0);
        CompareResult lax = compare(a, b, false);
        assertEquals(CompareResult.Outcome.IDENTICAL, lax.outcome());
        assertFalse(lax.sizeWarning());
        CompareResult strict = compare(a, b, true);
        assertEquals(CompareResult.Outcome.STATUS_MISMATCH, strict.outcome());
        assertEquals(0, strict.offset());
    }

    @Test
    void progressCoversTheLongerImage() throws Exception {
        Path a = RawFiles.sparse(dir.resolve("a"), 1 << 20);
        Path b = RawFiles.sparse(dir.resolve("b"), 3 << 20);
        long[] done = {0};
        boolean[] warned = {false};
        try (Image i1 = ChainOpener.standard().open(a.toString(), "raw", OpenOptions.readOnlyChain());
             Image i2 = ChainOpener.standard().open(b.toString(), "raw", OpenOptions.readOnlyChain())) {
            CompareOperation.compare(i1, "a", i2, "b", false, new CompareOperation.Progress() {
                @Override
                public void advance(long chunk, long base) {
                    assertEquals(3 << 20, base);
                    done[0] += chunk;
                }

                @Override
                public void sizeMismatch() {
                    warned[0] = true;
                }
            });
        }
        assertEquals(3 << 20, done[0]);
        assertTrue(warned[0]);
    }
}
