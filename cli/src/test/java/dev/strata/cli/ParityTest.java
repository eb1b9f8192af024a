package dev.strata.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * strata-img against the real qemu-img 7.2 on the same images, byte for byte: stdout, stderr
 * and exit code of info, map and compare, and of the global error paths. Images are made by
 * the real qemu-img and qemu-io; paths are absolute so both tools see the same names.
 */
class ParityTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void makeImages() throws IOException {
        RealQemu.mustQemuImg(dir, "create", "-f", "raw", "r.raw", "1M");
        RealQemu.mustQemuIo(dir, "-f", "raw", "-c", "write -P 1 64k 64k", "-c", "write -P 7 300k 5k", "r.raw");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "q.qcow2", "1M");
        RealQemu.mustQemuIo(dir, "-c", "write -P 1 64k 64k", "-c", "write -P 7 300k 5k", "-c", "write -z 512k 64k",
                "q.qcow2");
        // A chain with a relative backing name in another directory, snapshots at the bottom.
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "base.qcow2", "2M");
        RealQemu.mustQemuIo(dir, "-c", "write -P 3 0 128k", "base.qcow2");
        RealQemu.mustQemuImg(dir, "snapshot", "-c", "snap1", "base.qcow2");
        RealQemu.mustQemuImg(dir, "snapshot", "-c", "a-much-longer-snapshot-name", "base.qcow2");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2");
        RealQemu.mustQemuIo(dir, "-c", "write -P 4 64k 64k", "mid.qcow2");
        Files.createDirectories(dir.resolve("sub"));
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-b", "../mid.qcow2", "-F", "qcow2", "sub/top.qcow2", "3M");
        RealQemu.mustQemuIo(dir, "-c", "write -P 5 1M 64k", "sub/top.qcow2");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-u", "-b", "missing.qcow2", "-F", "qcow2",
                "dangling.qcow2", "1M");
        // A two-image loop (qemu-img create refuses an image that backs itself).
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-u", "-b", "loopb.qcow2", "-F", "qcow2", "loopa.qcow2", "1M");
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-u", "-b", "loopa.qcow2", "-F", "qcow2", "loopb.qcow2", "1M");
        // Absolute: qemu resolves a relative data file name against its working directory.
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-o", "data_file=" + dir.resolve("d.raw"), "df.qcow2", "4M");
        RealQemu.mustQemuIo(dir, "-c", "write -P 3 0 1M", "df.qcow2");
        RealQemu.mustQemuImg(dir, "convert", "-c", "-O", "qcow2", "r.raw", "comp.qcow2");
        // Compare fixtures: byte differences inside and past the common size.
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("c2.raw").toFile(), "rw")) {
            f.setLength(1 << 20);
            f.seek(1000);
            f.write('x');
        }
        Files.copy(dir.resolve("c2.raw"), dir.resolve("c3.raw"));
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("c3.raw").toFile(), "rw")) {
            f.seek(700);
            f.write('y');
        }
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("c5.raw").toFile(), "rw")) {
            f.setLength(2 << 20);
            f.seek(1000);
            f.write('x');
            f.seek(1_500_000);
            f.write('z');
        }
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("c6.raw").toFile(), "rw")) {
            f.setLength(2 << 20);
            f.seek(1000);
            f.write('x');
        }
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("odd.raw").toFile(), "rw")) {
            f.setLength(999);
        }
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "empty.qcow2", "1M");
        RealQemu.mustQemuImgRetryingCpuBenchmark(dir, "create", "-f", "qcow2", "--object", "secret,id=s0,data=abc",
                "-o", "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10", "enc.qcow2", "1M");
        makeSnapshotImage();
    }

    /**
     * Two snapshots, patched in the table: a VM clock over 100 hours with a large VM state and
     * no icount (shorter-than-full extra data is not needed: icount -1 means "none"), and an icount.
     */
    private static void makeSnapshotImage() throws IOException {
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "sn.qcow2", "1M");
        RealQemu.mustQemuImg(dir, "snapshot", "-c", "first", "sn.qcow2");
        RealQemu.mustQemuImg(dir, "snapshot", "-c", "second-with-a-long-name", "sn.qcow2");
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("sn.qcow2").toFile(), "rw")) {
            f.seek(60);
            int count = f.readInt();
            long pos = f.readLong();
            for (int i = 0; i < count; i++) {
                f.seek(pos + 12);
                int idLen = f.readUnsignedShort();
                int nameLen = f.readUnsignedShort();
                f.seek(pos + 36);
                int extra = f.readInt();
                if (i == 0) {
                    f.seek(pos + 24);
                    f.writeLong(363_723_456_789_012L);
                    f.seek(pos + 40);
                    f.writeLong(123_456_789L);
                    f.seek(pos + 56);
                    f.writeLong(-1L);
                } else {
                    f.seek(pos + 56);
                    f.writeLong(987_654_321L);
                }
                pos += (40 + extra + idLen + nameLen + 7) / 8 * 8;
            }
        }
    }

    @Test
    void snapshotTableInAnotherTimeZone() {
        java.util.TimeZone saved = java.util.TimeZone.getDefault();
        try {
            java.util.TimeZone.setDefault(java.util.TimeZone.getTimeZone("Asia/Kolkata"));
            for (String out : List.of("human", "json")) {
                String[] args = {"info", "--output=" + out, p("sn.qcow2")};
                RealQemu.Run expected = RealQemu.tool(dir, "qemu-img", List.of(args),
                        java.util.Map.of("TZ", "Asia/Kolkata"));
                assertEquals(expected.toString(), RealQemu.strata(args).toString());
            }
        } finally {
            java.util.TimeZone.setDefault(saved);
        }
    }

    private static String p(String name) {
        return dir.resolve(name).toString();
    }

    /** Runs both tools with {@code args} (file names in {p:NAME} form made absolute) and compares. */
    private static void same(String... args) {
        String[] real = new String[args.length];
        for (int i = 0; i < args.length; i++) {
            real[i] = args[i].replace("{dir}", dir.toString());
        }
        RealQemu.Run expected = RealQemu.qemuImg(dir, real);
        RealQemu.Run actual = RealQemu.strata(real);
        assertEquals(expected.toString(), actual.toString(), "strata-img " + String.join(" ", real));
    }

    @Test
    void infoRawAndQcow2() {
        for (String f : List.of("r.raw", "q.qcow2", "base.qcow2", "df.qcow2", "dangling.qcow2", "odd.raw",
                "comp.qcow2", "sn.qcow2")) {
            same("info", "{dir}/" + f);
            same("info", "--output=json", "{dir}/" + f);
        }
        same("info", "-f", "raw", "{dir}/q.qcow2");
        same("info", "-f", "qcow2", "{dir}/r.raw");
        same("info", "-U", "--out=json", "{dir}/r.raw");
    }

    @Test
    void infoBackingChain() {
        same("info", "--backing-chain", "{dir}/sub/top.qcow2");
        same("info", "--backing-chain", "--output=json", "{dir}/sub/top.qcow2");
        same("info", "--backing-chain", "--output=json", "{dir}/r.raw");
        same("info", "--backing-chain", "{dir}/dangling.qcow2");
        same("info", "--backing-chain", "{dir}/loopa.qcow2");
        same("info", "--backing-chain", "--output=json", "{dir}/loopa.qcow2");
        same("info", "{dir}/sub/top.qcow2");
    }

    @Test
    void infoImageOptsAndObjects() {
        same("info", "--image-opts", "driver=qcow2,file.filename={dir}/sub/top.qcow2");
        same("info", "--image-opts", "file.filename={dir}/r.raw");
        same("info", "--image-opts", "driver=qcow2,file.filename={dir}/r.raw");
        same("info", "--image-opts", "{dir}/r.raw");
        same("info", "--image-opts", "-f", "raw", "{dir}/r.raw");
        same("info", "--image-opts", "driver=raw");
        same("info", "--image-opts", "driver=raw,file.filename={dir}/r.raw,foo=bar");
        same("info", "--object", "secret,id=s0,data=abc", "{dir}/r.raw");
        same("info", "--object", "secret,id=s0", "{dir}/r.raw");
    }

    @Test
    void mapHumanAndJson() {
        for (String f : List.of("r.raw", "q.qcow2", "sub/top.qcow2", "df.qcow2", "odd.raw", "comp.qcow2")) {
            same("map", "{dir}/" + f);
            same("map", "--output=json", "{dir}/" + f);
        }
        same("map", "--start-offset=100k", "--max-length=300k", "{dir}/sub/top.qcow2");
        same("map", "--output=json", "-s", "512", "-l", "1.5k", "{dir}/r.raw");
        same("map", "--output=json", "--start-offset", "2M", "{dir}/r.raw");
        same("map", "--start-offset=0x200", "{dir}/r.raw");
        same("map", "--start-offset=1.k", "{dir}/r.raw");
        same("map", "--max-length=0", "--output=json", "{dir}/r.raw");
        same("map", "--start-offset=9223372036854775807", "--max-length=10", "{dir}/r.raw");
    }

    @Test
    void mapErrors() {
        same("map", "--start-offset=abc", "{dir}/r.raw");
        same("map", "--start-offset=-1", "{dir}/r.raw");
        same("map", "--start-offset=1.5", "{dir}/r.raw");
        same("map", "--max-length=8E", "{dir}/r.raw");
        same("map", "--max-length=99999999999999999999", "{dir}/r.raw");
        same("map", "--output=xml", "{dir}/r.raw");
        same("map", "-f", "qcow2", "{dir}/r.raw");
        same("map", "{dir}/missing.raw");
        same("map");
    }

    @Test
    void compareOutcomes() {
        same("compare", "{dir}/r.raw", "{dir}/q.qcow2");
        same("compare", "-s", "{dir}/r.raw", "{dir}/q.qcow2");
        same("compare", "{dir}/c2.raw", "{dir}/c3.raw");
        same("compare", "{dir}/empty.qcow2", "{dir}/c2.raw");
        same("compare", "{dir}/c2.raw", "{dir}/c5.raw");
        same("compare", "{dir}/c5.raw", "{dir}/c2.raw");
        same("compare", "-s", "{dir}/c2.raw", "{dir}/c5.raw");
        same("compare", "{dir}/c6.raw", "{dir}/c2.raw");
        same("compare", "-q", "{dir}/c5.raw", "{dir}/c2.raw");
        same("compare", "-p", "{dir}/c6.raw", "{dir}/c2.raw");
        same("compare", "-p", "{dir}/sub/top.qcow2", "{dir}/base.qcow2");
        same("compare", "-s", "{dir}/sub/top.qcow2", "{dir}/base.qcow2");
        same("compare", "{dir}/comp.qcow2", "{dir}/r.raw");
        same("compare", "-f", "raw", "-F", "qcow2", "{dir}/r.raw", "{dir}/q.qcow2");
    }

    @Test
    void compareErrors() {
        same("compare", "-T", "foo", "{dir}/r.raw", "{dir}/r.raw");
        same("compare", "-T", "none", "-U", "{dir}/r.raw", "{dir}/r.raw");
        same("compare", "{dir}/r.raw", "{dir}/missing.raw");
        same("compare", "-f", "qcow2", "{dir}/r.raw", "{dir}/r.raw");
        same("compare", "{dir}/r.raw");
        same("compare", "--strict", "{dir}/r.raw", "{dir}/r.raw");
        same("compare", "-p", "{dir}/missing.raw", "{dir}/r.raw");
    }

    @Test
    void directoriesAndEncryptedImages() {
        same("info", "{dir}");
        same("map", "{dir}");
        same("compare", "{dir}", "{dir}/r.raw");
        same("map", "{dir}/enc.qcow2");
        same("compare", "{dir}/enc.qcow2", "{dir}/r.raw");
    }

    /**
     * qemu opens an external data file with the image (map and compare fail at open, info works
     * without it), and prints one corruption line per open image, without the program name,
     * when mapping meets inconsistent metadata.
     */
    @Test
    void missingDataFileAndCorruptMetadata() throws IOException {
        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "-o", "data_file=" + dir.resolve("gone.raw"), "gone.qcow2",
                "1M");
        Files.delete(dir.resolve("gone.raw"));
        same("info", "{dir}/gone.qcow2");
        same("map", "{dir}/gone.qcow2");
        same("compare", "{dir}/r.raw", "{dir}/gone.qcow2");

        RealQemu.mustQemuImg(dir, "create", "-f", "qcow2", "l2bad.qcow2", "1M");
        RealQemu.mustQemuIo(dir, "-c", "write -P 1 0 64k", "l2bad.qcow2");
        Files.copy(dir.resolve("l2bad.qcow2"), dir.resolve("rbbad.qcow2"));
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("l2bad.qcow2").toFile(), "rw")) {
            addToTableEntry(f, 40, 512); // first L1 entry: a misaligned L2 table
        }
        try (RandomAccessFile f = new RandomAccessFile(dir.resolve("rbbad.qcow2").toFile(), "rw")) {
            addToTableEntry(f, 48, 512); // first refcount table entry: a misaligned refcount block
        }
        for (String f : List.of("l2bad.qcow2", "rbbad.qcow2")) {
            same("map", "{dir}/" + f);
            same("map", "--output=json", "{dir}/" + f);
            same("compare", "{dir}/" + f, "{dir}/" + f);
        }
    }

    /** Adds {@code delta} to the first entry of the table whose offset the header holds at {@code field}. */
    private static void addToTableEntry(RandomAccessFile f, long field, long delta) throws IOException {
        f.seek(field);
        long table = f.readLong();
        f.seek(table);
        long entry = f.readLong();
        f.seek(table);
        f.writeLong(entry + delta);
    }

    @Test
    void globalAndOptionErrors() {
        List<List<String>> cases = new ArrayList<>();
        cases.add(List.of());
        cases.add(List.of("foo"));
        cases.add(List.of("-T"));
        cases.add(List.of("-x", "info"));
        cases.add(List.of("--help=3"));
        cases.add(List.of("info"));
        cases.add(List.of("info", "a", "b"));
        cases.add(List.of("info", "-x", "{dir}/r.raw"));
        cases.add(List.of("info", "-xU", "{dir}/r.raw"));
        cases.add(List.of("info", "{dir}/r.raw", "-xU"));
        cases.add(List.of("info", "-Uf"));
        cases.add(List.of("info", "--f", "{dir}/r.raw"));
        cases.add(List.of("info", "--output"));
        cases.add(List.of("info", "--backing-chain=1", "{dir}/r.raw"));
        cases.add(List.of("info", "--output=xml", "{dir}/r.raw"));
        cases.add(List.of("info", "{dir}/missing.raw"));
        cases.add(List.of("info", "-f", "bogus", "{dir}/missing.raw"));
        cases.add(List.of("info", "--", "{dir}/r.raw"));
        cases.add(List.of("info", "{dir}/r.raw", "--output", "json"));
        for (List<String> c : cases) {
            same(c.toArray(new String[0]));
        }
    }
}
