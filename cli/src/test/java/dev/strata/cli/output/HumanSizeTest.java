package dev.strata.cli.output;

import dev.strata.cli.RealQemu;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** HumanSize against the "virtual size" lines the real qemu-img prints for odd sizes. */
class HumanSizeTest {
    private static final Pattern VIRTUAL = Pattern.compile("virtual size: (.*) \\((\\d+) bytes\\)");

    @Test
    void matchesRealQemuImg(@TempDir Path dir) throws IOException {
        long[] sizes = {0, 512, 1024, 1536, 10240, 102400, 1022976, 1023488, 1047552, 1048064, 1048576,
                1572864, 3 * 1048576 + 512, 1073741312, 1073741824, 1_048_063L * 1024, 1_048_064L * 1024,
                123456789 * 512L, 1099511627776L};
        Path f = dir.resolve("s.raw");
        for (long size : sizes) {
            try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
                raf.setLength(size);
            }
            String out = RealQemu.mustQemuImg(dir, "info", "-f", "raw", f.toString()).out();
            Matcher m = VIRTUAL.matcher(out);
            assertTrue(m.find(), out);
            assertEquals(m.group(1), HumanSize.of(Long.parseLong(m.group(2))), "size " + size);
        }
    }

    @Test
    void knownValues() {
        assertEquals("0 B", HumanSize.of(0));
        assertEquals("999 B", HumanSize.of(999));
        assertEquals("0.977 KiB", HumanSize.of(1000));
        assertEquals("1 KiB", HumanSize.of(1024));
        assertEquals("1e+03 KiB", HumanSize.of(1023488));
        assertEquals("64 MiB", HumanSize.of(64L << 20));
        assertEquals("348 KiB", HumanSize.of(348L << 10));
        assertEquals("2.19 MiB", HumanSize.of(2297856));
        assertEquals("16 EiB", HumanSize.of(-1L));
        assertEquals("8 EiB", HumanSize.of(Long.MAX_VALUE));
    }

    @Test
    void cFormatRoundsLikeGlibc() {
        assertEquals("0.12", CFormat.f(0.125, 2));
        assertEquals("0.38", CFormat.f(0.375, 2));
        assertEquals("6.25", CFormat.f(6.25, 2));
        assertEquals("1.12", CFormat.g(1.125, 3));
        assertEquals("1e+03", CFormat.g(999.5, 3));
        assertEquals("0", CFormat.alternateHex(0));
        assertEquals("0x1f", CFormat.alternateHex(31));
    }
}
