package dev.strata.cli.command;

import dev.strata.cli.RealQemu;
import dev.strata.cli.StrataImg;
import dev.strata.engine.format.qcow2.Qcow2Header;
import dev.strata.engine.storage.FileStorage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata-img check} against the real {@code qemu-img check} 7.2, byte for byte: stdout
 * (human and JSON), stderr (with our program name in qemu's place) and the exit code, on images
 * made by the real tools and damaged by controlled byte patches. Our CLI runs in-process.
 */
class CheckCommandTest {
    @TempDir
    static Path dir;

    private static final Pattern OUR_NAME = Pattern.compile("(?m)^strata-img: ");

    @BeforeAll
    static void makeImages() throws IOException {
        String[] writes = {"-c", "write -P 1 0 128k", "-c", "write -P 2 1M 64k", "-c", "write -c -P 3 2M 128k"};
        qcow2("clean.qcow2", "", "4M", writes);
        qcow2("small-clusters.qcow2", "cluster_size=512", "1M", "-c", "write -P 1 0 20k", "-c", "write -P 2 40k 3k");
        qcow2("v2.qcow2", "compat=0.10", "4M", writes);
        qcow2("rb1.qcow2", "refcount_bits=1", "4M", writes);
        qcow2("rb64.qcow2", "refcount_bits=64", "4M", writes);
        qcow2("extl2.qcow2", "extended_l2=on", "4M", "-c", "write -P 1 0 3k", "-c", "write -P 2 1M 64k");
        qcow2("empty.qcow2", "", "1M");
        // 800 clusters with 1 allocated: 0.125% must print as C's "0.12", not "0.13".
        qcow2("tie.qcow2", "cluster_size=512", "400k", "-c", "write -P 1 0 512");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-o", "cluster_size=4096", path("snap.qcow2"), "4M");
        RealQemu.mustQemuIo(dir, "-c", "write -P 1 0 64k", path("snap.qcow2"));
        RealQemu.mustQemuImg(dir, "snapshot", "-c", "s1", path("snap.qcow2"));
        RealQemu.mustQemuIo(dir, "-c", "write -P 2 0 8k", path("snap.qcow2"));
        RealQemu.mustQemuImg(dir, "create", "-f", "raw", path("plain.raw"), "1M");

        damage("clean.qcow2", "leak.qcow2", p -> p.appendLeakedCluster());
        damage("clean.qcow2", "corrupt.qcow2", p -> p.setRefcount(p.dataCluster(p.firstDataEntry()), 0));
        damage("clean.qcow2", "leak-and-corrupt.qcow2", p -> {
            p.appendLeakedCluster();
            p.setRefcount(p.dataCluster(p.firstDataEntry()), 0);
        });
        damage("clean.qcow2", "copied.qcow2", p -> p.w64(p.firstDataEntry(), p.u64(p.firstDataEntry()) ^ (1L << 63)));
        damage("clean.qcow2", "l2-misaligned.qcow2", p -> p.w64(p.l1Offset(), p.u64(p.l1Offset()) + 0x200));
        damage("clean.qcow2", "l2-past-eof.qcow2", p -> p.w64(p.l1Offset(), (1L << 63) | (p.length() + (1 << 20))));
        damage("clean.qcow2", "reftable-misaligned.qcow2",
                p -> p.w64(p.header.refcountTableOffset(), p.u64(p.header.refcountTableOffset()) + 0x200));
        damage("clean.qcow2", "truncated.qcow2", p -> p.setLength(p.length() - 100_000));
        damage("small-clusters.qcow2", "small-corrupt.qcow2",
                p -> p.setRefcount(p.dataCluster(p.firstDataEntry()), 0));
        damage("rb1.qcow2", "rb1-leak.qcow2", p -> p.appendLeakedCluster());
        damage("rb64.qcow2", "rb64-huge.qcow2", p -> p.setRefcount(p.dataCluster(p.firstDataEntry()), -2L));
        damage("v2.qcow2", "v2-corrupt.qcow2", p -> p.setRefcount(p.dataCluster(p.firstDataEntry()), 0));
        damage("snap.qcow2", "snap-extra.qcow2", p -> p.w32(p.header.snapshotsOffset() + 36, 5000));
    }

    static Stream<String> images() {
        return Stream.of("clean.qcow2", "small-clusters.qcow2", "v2.qcow2", "rb1.qcow2", "rb64.qcow2", "extl2.qcow2",
                "empty.qcow2", "tie.qcow2", "snap.qcow2", "plain.raw", "leak.qcow2", "corrupt.qcow2",
                "leak-and-corrupt.qcow2", "copied.qcow2", "l2-misaligned.qcow2", "l2-past-eof.qcow2",
                "reftable-misaligned.qcow2", "truncated.qcow2", "small-corrupt.qcow2", "rb1-leak.qcow2",
                "rb64-huge.qcow2", "v2-corrupt.qcow2", "snap-extra.qcow2");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void humanSameAsQemu(String image) {
        assertSameAsQemu("check", path(image));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void jsonSameAsQemu(String image) {
        assertSameAsQemu("check", "--output=json", path(image));
    }

    @Test
    void optionsSameAsQemu() {
        String clean = path("clean.qcow2");
        String leak = path("leak.qcow2");
        assertSameAsQemu("check", "-q", leak);
        assertSameAsQemu("check", "-q", "--output=json", path("corrupt.qcow2"));
        assertSameAsQemu("check", "-f", "qcow2", "-U", "-T", "none", clean);
        assertSameAsQemu("check", "-f", "raw", clean);
        assertSameAsQemu("check", "-f", "nosuchformat", clean);
        assertSameAsQemu("check", leak, "--output", "json");
        assertSameAsQemu("check", "--out=json", "--", clean);
        assertSameAsQemu("check");
        assertSameAsQemu("check", clean, leak);
        assertSameAsQemu("check", "--output=xml", clean);
        assertSameAsQemu("check", "-T", "bogus", clean);
        assertSameAsQemu("check", "-r", "sometimes", clean);
        assertSameAsQemu("check", "--bogus", clean);
        assertSameAsQemu("check", "-f");
        assertSameAsQemu("check", path("does-not-exist.qcow2"));
    }

    @Test
    void repairMatchesQemuOnTwins() throws IOException {
        Path copy = dir.resolve("repair-me.qcow2");
        for (String mode : new String[] {"leaks", "all"}) {
            Files.deleteIfExists(copy);
            Files.copy(dir.resolve("leak.qcow2"), copy);
            RealQemu.Run q = RealQemu.qemuImg(dir, "check", "-r", mode, copy.toString());
            byte[] repairedByQemu = Files.readAllBytes(copy);
            Files.delete(copy);
            Files.copy(dir.resolve("leak.qcow2"), copy);
            Run s = strata("check", "-r", mode, copy.toString());
            assertEquals(q.out(), s.out(), "stdout of -r " + mode);
            assertEquals(q.err(), OUR_NAME.matcher(s.err()).replaceAll("qemu-img: "), "stderr of -r " + mode);
            assertEquals(q.code(), s.code(), "exit code of -r " + mode);
            RealQemu.Run after = RealQemu.qemuImg(dir, "check", copy.toString());
            assertEquals(0, after.code(), after.out() + after.err());
            assertTrue(repairedByQemu.length == Files.size(copy), "file length after -r " + mode);
        }
    }

    // ---- helpers ---------------------------------------------------------------------------

    private record Run(String out, String err, int code) {
        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private static void assertSameAsQemu(String... args) {
        RealQemu.Run q = RealQemu.qemuImg(dir, args);
        Run s = strata(args);
        String ourErr = OUR_NAME.matcher(s.err()).replaceAll("qemu-img: ").replace("'strata-img --help'",
                "'qemu-img --help'");
        String label = String.join(" ", args);
        assertEquals(q.out(), s.out(), "stdout of " + label);
        assertEquals(q.err(), ourErr, "stderr of " + label);
        assertEquals(q.code(), s.code(), "exit code of " + label);
    }

    private static Run strata(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        int code = StrataImg.run(args, o, e);
        o.flush();
        e.flush();
        return new Run(out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), code);
    }

    private static String path(String name) {
        return dir.resolve(name).toString();
    }

    private static void qcow2(String name, String options, String size, String... qemuIo) {
        List<String> create = new ArrayList<>(List.of("create", "-f", "qcow2"));
        if (!options.isEmpty()) {
            create.add("-o");
            create.add(options);
        }
        create.add(path(name));
        create.add(size);
        RealQemu.mustQemuImg(dir, create.toArray(String[]::new));
        if (qemuIo.length > 0) {
            List<String> io = new ArrayList<>(List.of(qemuIo));
            io.add(path(name));
            RealQemu.mustQemuIo(dir, io.toArray(String[]::new));
        }
    }

    private interface Damage {
        void apply(Patcher p) throws IOException;
    }

    private static void damage(String from, String to, Damage d) throws IOException {
        Files.copy(dir.resolve(from), dir.resolve(to));
        try (Patcher p = new Patcher(dir.resolve(to))) {
            d.apply(p);
        }
    }

    /** Byte patches at offsets taken from the image's header (parsed by the engine). */
    private static final class Patcher implements AutoCloseable {
        private static final long OFFSET_MASK = 0x00fffffffffffe00L;
        final Qcow2Header header;
        private final RandomAccessFile f;
        private final int bits;

        Patcher(Path p) throws IOException {
            try (FileStorage s = FileStorage.open(p.toString(), true)) {
                header = Qcow2Header.parse(s, true);
            }
            f = new RandomAccessFile(p.toFile(), "rw");
            bits = header.refcountBits();
        }

        long l1Offset() {
            return header.l1TableOffset();
        }

        long u64(long off) throws IOException {
            f.seek(off);
            return f.readLong();
        }

        void w64(long off, long v) throws IOException {
            f.seek(off);
            f.writeLong(v);
        }

        void w32(long off, int v) throws IOException {
            f.seek(off);
            f.writeInt(v);
        }

        long length() throws IOException {
            return f.length();
        }

        void setLength(long len) throws IOException {
            f.setLength(len);
        }

        long firstDataEntry() throws IOException {
            long l2 = u64(header.l1TableOffset()) & OFFSET_MASK;
            for (int j = 0; j < header.l2Entries(); j++) {
                long e = u64(l2 + (long) j * header.l2EntrySize());
                if ((e & OFFSET_MASK) != 0 && (e & (1L << 62)) == 0) {
                    return l2 + (long) j * header.l2EntrySize();
                }
            }
            throw new IllegalStateException("no data cluster");
        }

        long dataCluster(long entryOffset) throws IOException {
            return (u64(entryOffset) & OFFSET_MASK) >>> header.clusterBits();
        }

        void setRefcount(long cluster, long value) throws IOException {
            long perBlock = (long) header.clusterSize() * 8 / bits;
            long block = u64(header.refcountTableOffset() + 8 * (cluster / perBlock)) & ~0x1ffL;
            long bitPos = (cluster % perBlock) * bits;
            if (bits >= 8) {
                for (int i = 0; i < bits / 8; i++) {
                    f.seek(block + bitPos / 8 + i);
                    f.write((int) (value >>> (bits - 8 - 8 * i)) & 0xff);
                }
                return;
            }
            f.seek(block + bitPos / 8);
            int b = f.read();
            int shift = (int) (bitPos % 8);
            int mask = ((1 << bits) - 1) << shift;
            f.seek(block + bitPos / 8);
            f.write((b & ~mask) | ((int) (value << shift) & mask));
        }

        void appendLeakedCluster() throws IOException {
            long cs = header.clusterSize();
            long cluster = (f.length() + cs - 1) / cs;
            f.setLength((cluster + 1) * cs);
            setRefcount(cluster, 1);
        }

        @Override
        public void close() throws IOException {
            f.close();
        }
    }
}
