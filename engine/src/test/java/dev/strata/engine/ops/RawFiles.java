package dev.strata.engine.ops;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;

/** Sparse raw image files for operation tests. */
public final class RawFiles {
    private RawFiles() {
    }

    /** Creates (or truncates) {@code file} as a sparse file of {@code size} bytes. */
    public static Path sparse(Path file, long size) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(0);
            f.setLength(size);
        }
        return file;
    }

    /** Writes {@code length} bytes of {@code value} at {@code offset}. */
    public static void fill(Path file, long offset, int length, int value) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            byte[] b = new byte[length];
            java.util.Arrays.fill(b, (byte) value);
            f.seek(offset);
            f.write(b);
        }
    }
}
