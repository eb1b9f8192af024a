package dev.strata.engine.format.raw;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A raw resize that qemu's file driver refuses leaves the file exactly as it was. */
class RawWriterResizeTest {
    private static final long SIZE = 256 * 1024;

    @TempDir
    Path dir;

    private Path rawWithData() throws Exception {
        Path p = dir.resolve("img.raw");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(SIZE);
            byte[] b = new byte[4096];
            java.util.Arrays.fill(b, (byte) 0x5a);
            f.seek(SIZE - b.length);
            f.write(b);
        }
        return p;
    }

    private static LayerWriter writerOf(Image image) {
        return image.layers().get(0).driver().writer().orElseThrow();
    }

    @Test
    void metadataPreallocationIsRefusedBeforeAnyChange() throws Exception {
        Path p = rawWithData();
        byte[] before = Files.readAllBytes(p);
        for (long newSize : new long[] {SIZE * 2, SIZE, SIZE / 2}) {
            try (Image img = ChainOpener.standard().open(p.toString(), "raw", new OpenOptions(false, false, false))) {
                StrataException e = assertThrows(StrataException.class,
                        () -> writerOf(img).resize(newSize, Preallocation.METADATA));
                assertEquals(ErrorKind.ENOTSUP, e.kind());
                String expected = newSize < SIZE ? "Preallocation can only be used for growing images"
                        : "Unsupported preallocation mode: metadata";
                assertEquals(expected, e.getMessage());
                assertEquals(SIZE, img.size(), "virtual size after refusing " + newSize);
            }
            assertArrayEquals(before, Files.readAllBytes(p), "file bytes after refusing " + newSize);
        }
    }

    @Test
    void shrinkWithPreallocationIsRefusedBeforeAnyChange() throws Exception {
        Path p = rawWithData();
        byte[] before = Files.readAllBytes(p);
        for (Preallocation mode : new Preallocation[] {Preallocation.FALLOC, Preallocation.FULL}) {
            try (Image img = ChainOpener.standard().open(p.toString(), "raw", new OpenOptions(false, false, false))) {
                StrataException e = assertThrows(StrataException.class, () -> writerOf(img).resize(SIZE / 4, mode));
                assertEquals("Preallocation can only be used for growing images", e.getMessage());
            }
            assertArrayEquals(before, Files.readAllBytes(p), "file bytes after refusing " + mode);
        }
    }

    @Test
    void growWithFullPreallocationKeepsDataAndZeroesTheTail() throws Exception {
        Path p = rawWithData();
        byte[] before = Files.readAllBytes(p);
        try (Image img = ChainOpener.standard().open(p.toString(), "raw", new OpenOptions(false, false, false))) {
            writerOf(img).resize(SIZE * 2, Preallocation.FULL);
            assertEquals(SIZE * 2, img.size());
        }
        byte[] after = Files.readAllBytes(p);
        assertEquals(SIZE * 2, after.length);
        assertArrayEquals(before, java.util.Arrays.copyOf(after, (int) SIZE));
        assertArrayEquals(new byte[(int) SIZE], java.util.Arrays.copyOfRange(after, (int) SIZE, (int) SIZE * 2));
    }
}
