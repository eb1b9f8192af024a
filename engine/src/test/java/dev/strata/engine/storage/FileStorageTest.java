package dev.strata.engine.storage;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FileStorageTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    /** A 4 MiB file with data only in [1 MiB, 1 MiB + 64 KiB). */
    private Path sparseFile() throws Exception {
        Path p = dir.resolve("sparse.raw");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(4L * MIB);
            f.seek(MIB);
            byte[] block = new byte[64 * 1024];
            java.util.Arrays.fill(block, (byte) 0x5a);
            f.write(block);
        }
        return p;
    }

    @Test
    void holesAndDataAreFoundWithSeekData() throws Exception {
        try (FileStorage s = FileStorage.open(sparseFile().toString(), true)) {
            Storage.Allocation first = s.allocationAt(0, 4L * MIB);
            assertEquals(new Storage.Allocation(false, MIB), first);
            Storage.Allocation data = s.allocationAt(MIB, 4L * MIB);
            assertTrue(data.data());
            assertTrue(data.length() >= 64 * 1024 && data.length() < 3L * MIB);
            Storage.Allocation tail = s.allocationAt(MIB + data.length(), 8L * MIB);
            assertEquals(false, tail.data());
        }
    }

    @Test
    void allocationIsClippedToMaxLength() throws Exception {
        try (FileStorage s = FileStorage.open(sparseFile().toString(), true)) {
            assertEquals(new Storage.Allocation(false, 4096), s.allocationAt(0, 4096));
        }
    }

    @Test
    void readsPastEndAreZeros() throws Exception {
        Path p = dir.resolve("short");
        java.nio.file.Files.write(p, new byte[] {1, 2, 3});
        try (FileStorage s = FileStorage.open(p.toString(), true)) {
            ByteBuffer b = ByteBuffer.allocate(6);
            s.read(b, 1);
            assertArrayEquals(new byte[] {2, 3, 0, 0, 0, 0}, b.array());
        }
    }

    @Test
    void readOnlyStorageRefusesWrites() throws Exception {
        try (FileStorage s = FileStorage.open(sparseFile().toString(), true)) {
            StrataException e = assertThrows(StrataException.class, () -> s.write(ByteBuffer.allocate(1), 0));
            assertEquals(ErrorKind.EPERM, e.kind());
        }
    }

    @Test
    void missingFileUsesQemuWording() {
        StrataException e = assertThrows(StrataException.class,
                () -> FileStorage.open(dir.resolve("nope").toString(), true));
        assertEquals("Could not open '" + dir.resolve("nope") + "': No such file or directory", e.getMessage());
        assertEquals(ErrorKind.ENOENT, e.kind());
    }

    @Test
    void allocatedSizeComesFromStBlocks() throws Exception {
        try (FileStorage s = FileStorage.open(sparseFile().toString(), true)) {
            long allocated = s.allocatedSize();
            assertTrue(allocated >= 64 * 1024 && allocated < 4L * MIB, "allocated " + allocated);
        }
    }

    @Test
    void answersInsideAKnownRunAgreeWithAFreshProbe() throws Exception {
        Path p = sparseFile();
        try (FileStorage s = FileStorage.open(p.toString(), true);
             FileStorage fresh = FileStorage.open(p.toString(), true)) {
            Storage.Allocation whole = s.allocationAt(MIB, 4L * MIB);
            for (long off = MIB; off < MIB + whole.length(); off += 4096) {
                try (FileStorage f = fresh(p)) {
                    assertEquals(f.allocationAt(off, 4L * MIB), s.allocationAt(off, 4L * MIB), "at " + off);
                }
            }
            assertEquals(fresh.allocationAt(100, 8192), s.allocationAt(100, 8192));
        }
    }

    @Test
    void writesThroughTheStorageAreSeenByLaterQueries() throws Exception {
        Path p = sparseFile();
        try (FileStorage s = FileStorage.open(p.toString(), false)) {
            assertEquals(false, s.allocationAt(3L * MIB, 4096).data());
            byte[] block = new byte[4096];
            java.util.Arrays.fill(block, (byte) 1);
            s.write(ByteBuffer.wrap(block), 3L * MIB);
            assertTrue(s.allocationAt(3L * MIB, 4096).data());
        }
    }

    private static FileStorage fresh(Path p) {
        return FileStorage.open(p.toString(), true);
    }
}
