package dev.strata.engine.ops.info;

import dev.strata.engine.StrataException;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.ops.RawFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What info reports for a raw layer, and qemu-img's error wording. */
class InfoOperationTest {
    @TempDir
    Path dir;

    @Test
    void rawLayer() throws Exception {
        Path f = RawFiles.sparse(dir.resolve("r.raw"), 1 << 20);
        RawFiles.fill(f, 0, 8192, 1);
        List<ImageInfo> list = new InfoOperation(ChainOpener.standard())
                .collect(ImageSource.file(f.toString(), null), true, false);
        assertEquals(1, list.size());
        ImageInfo i = list.get(0);
        assertEquals(f.toString(), i.filename());
        assertEquals("raw", i.format());
        assertEquals(1 << 20, i.virtualSize());
        assertTrue(i.actualSize() >= 8192, "allocated " + i.actualSize());
        assertFalse(i.dirtyFlag());
        assertEquals(0, i.clusterSize());
        assertNull(i.backingFilename());
        assertTrue(i.snapshots().isEmpty());
        assertNull(i.formatSpecific());
    }

    @Test
    void openFailuresCarryQemusOuterWording() {
        InfoOperation op = new InfoOperation(ChainOpener.standard());
        String missing = dir.resolve("missing").toString();
        StrataException e = assertThrows(StrataException.class,
                () -> op.collect(ImageSource.file(missing, null), false, false));
        assertEquals("Could not open '" + missing + "': Could not open '" + missing + "': No such file or directory",
                e.getMessage());
        e = assertThrows(StrataException.class,
                () -> op.collect(new ImageSource(missing, "bogus", "driver=bogus"), false, false));
        assertEquals("Could not open 'driver=bogus': Unknown driver 'bogus'", e.getMessage());
    }
}
