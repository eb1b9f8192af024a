package dev.strata.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * {@code strata-img check}, {@code check -r leaks} and {@code check -r all} of qcow2 images whose
 * snapshot table is damaged, against real {@code qemu-img} 7.2 on twins. Each base image is made
 * by real qemu-img/qemu-io (two data clusters, three snapshots made with {@code qemu-img snapshot
 * -c}, one cluster rewritten between them) and then damaged by patching bytes of the snapshot
 * table or of its header fields: a count larger than the table (entries read past the end of the
 * file), over the 65536 limit, extra data over 1024 bytes or over 2 GiB or running into the next
 * entry or past the end of the file, snapshot L1 tables unaligned, past the end or too large, the
 * table pointer unaligned, past the end or where no refcount block is, large VM state and odd
 * disk sizes, duplicate ids, and entries made garbage by a wrong size in the middle of the table. The same damaged bytes are
 * checked or repaired by qemu-img at one path, set aside, written again at the same path and
 * checked or repaired by strata-img: stdout, stderr and exit code must match, both files must be
 * byte for byte the same, and real {@code qemu-img check} of strata's result must say what
 * {@code strata-img check} says of it.
 */
class SnapshotTableRepairParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/snapshot-table-repair-parity");
    private static final Path IMAGE = DIR.resolve("t.qcow2");
    private static final Path QEMU_RESULT = DIR.resolve("qemu-result.qcow2");
    private static final Map<Base, byte[]> BASES = new EnumMap<>(Base.class);

    /** The images damaged: how qemu-img creates them. */
    private enum Base {
        V3(""),
        /** More data written after the snapshots: the table is not at the end of the file. */
        DATA_AFTER_TABLE(""),
        V2("compat=0.10"),
        CLUSTERS_4K("cluster_size=4096"),
        /** 512-byte clusters: refcount blocks cover 128 KiB each. */
        CLUSTERS_512("cluster_size=512");

        final String createOptions;

        Base(String createOptions) {
            this.createOptions = createOptions;
        }
    }

    /** One damage to one base image. */
    private record Damage(String name, Base base, Consumer<Qcow2Patcher> patch) {
        @Override
        public String toString() {
            return name + " (" + base + ")";
        }
    }

    static List<Damage> damages() {
        List<Damage> d = new ArrayList<>();
        for (Base b : Base.values()) {
            d.add(new Damage("count 2 past the table", b, p -> p.putU32(Qcow2Patcher.NB_SNAPSHOTS, 5)));
            d.add(new Damage("extra data 8 in entry 1 (later entries garbage)", b,
                    p -> p.putU32(entry(p, 1) + 36, 8)));
            d.add(new Damage("id size 0xffff in entry 1", b, p -> p.putU16(entry(p, 1) + 12, 0xffff)));
        }
        Base v3 = Base.V3;
        d.add(new Damage("count 65537", v3, p -> p.putU32(Qcow2Patcher.NB_SNAPSHOTS, 65537)));
        d.add(new Damage("extra data 2000 in entry 1", v3, p -> p.putU32(entry(p, 1) + 36, 2000)));
        d.add(new Damage("extra data 2000 in entry 1", Base.DATA_AFTER_TABLE, p -> p.putU32(entry(p, 1) + 36, 2000)));
        d.add(new Damage("extra data 2000 in entry 1", Base.V2, p -> p.putU32(entry(p, 1) + 36, 2000)));
        d.add(new Damage("extra data 2000 in the last entry", v3, p -> p.putU32(entry(p, 2) + 36, 2000)));
        d.add(new Damage("extra data 2.25 GiB in entry 1 (table too big)", v3,
                p -> p.putU32(entry(p, 1) + 36, 0x90000000)));
        d.add(new Damage("extra data 2.25 GiB in entry 0 (no entry left)", v3,
                p -> p.putU32(entry(p, 0) + 36, 0x90000000)));
        d.add(new Damage("extra data 100 in entry 1 (runs into entry 2)", v3, p -> p.putU32(entry(p, 1) + 36, 100)));
        d.add(new Damage("extra data 1000 in the last entry (past the end of the file)", v3,
                p -> p.putU32(entry(p, 2) + 36, 1000)));
        d.add(new Damage("extra data 100 in the last entry, count 4", v3, p -> {
            p.putU32(entry(p, 2) + 36, 100);
            p.putU32(Qcow2Patcher.NB_SNAPSHOTS, 4);
        }));
        d.add(new Damage("L1 table offset unaligned", v3, p -> p.putU64(entry(p, 1), p.u64(entry(p, 1)) + 0x200)));
        d.add(new Damage("L1 table offset past the end", v3, p -> p.putU64(entry(p, 1), 0x10000000L)));
        d.add(new Damage("L1 size too large", v3, p -> p.putU32(entry(p, 1) + 8, 0x2000001)));
        d.add(new Damage("L1 table offset unaligned, count 4", v3, p -> {
            p.putU64(entry(p, 1), p.u64(entry(p, 1)) + 0x200);
            p.putU32(Qcow2Patcher.NB_SNAPSHOTS, 4);
        }));
        d.add(new Damage("table offset unaligned", v3,
                p -> p.putU64(Qcow2Patcher.SNAPSHOTS_OFFSET, p.u64(Qcow2Patcher.SNAPSHOTS_OFFSET) + 8)));
        d.add(new Damage("table offset past the end", v3, p -> p.putU64(Qcow2Patcher.SNAPSHOTS_OFFSET, 0x1000000L)));
        // the old table's clusters have no refcount block: qemu makes an empty one while freeing them
        d.add(new Damage("table offset past the end", Base.CLUSTERS_4K,
                p -> p.putU64(Qcow2Patcher.SNAPSHOTS_OFFSET, 0x1000000L)));
        d.add(new Damage("table offset at 4 GiB", v3, p -> p.putU64(Qcow2Patcher.SNAPSHOTS_OFFSET, 1L << 32)));
        d.add(new Damage("table offset at 4 GiB, count 2", v3, p -> {
            p.putU64(Qcow2Patcher.SNAPSHOTS_OFFSET, 1L << 32);
            p.putU32(Qcow2Patcher.NB_SNAPSHOTS, 2);
        }));
        d.add(new Damage("VM state over 4 GiB and odd disk size", v3,
                SnapshotTableRepairParityTest::largeVmStateOddDiskSize));
        d.add(new Damage("VM state over 4 GiB and odd disk size, count 4", v3, p -> {
            largeVmStateOddDiskSize(p);
            p.putU32(Qcow2Patcher.NB_SNAPSHOTS, 4);
        }));
        d.add(new Damage("duplicate ids", v3, SnapshotTableRepairParityTest::duplicateId));
        d.add(new Damage("duplicate ids, count 4", v3, p -> {
            duplicateId(p);
            p.putU32(Qcow2Patcher.NB_SNAPSHOTS, 4);
        }));
        return d;
    }

    static Stream<Arguments> cases() {
        List<Arguments> c = new ArrayList<>();
        String image = IMAGE.toString();
        for (Damage d : damages()) {
            c.add(Arguments.of(d, new String[] {"check", image}));
            c.add(Arguments.of(d, new String[] {"check", "-r", "leaks", image}));
            c.add(Arguments.of(d, new String[] {"check", "-r", "all", image}));
            if (!d.name().equals("count 65537")) { // 65533 lines on stderr take qemu-img seconds
                c.add(Arguments.of(d, new String[] {"check", "-r", "all", "--output=json", image}));
            }
        }
        Damage countMax = new Damage("count 0xffffffff", Base.V3, p -> p.putU32(Qcow2Patcher.NB_SNAPSHOTS, -1));
        c.add(Arguments.of(countMax, new String[] {"check", image}));
        c.add(Arguments.of(countMax, new String[] {"check", "-r", "leaks", image}));
        return c.stream();
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void sameAsQemuImg(Damage damage, String[] args) throws IOException {
        byte[] damaged = damaged(damage);
        Files.write(IMAGE, damaged);
        Tools.Result qemu = Tools.qemuImg(args);
        assertFalse(qemu.timedOut(), "qemu-img timed out");
        Files.deleteIfExists(QEMU_RESULT);
        Files.move(IMAGE, QEMU_RESULT);
        Files.write(IMAGE, damaged);
        Parity.assertSame(qemu, InProcessCli.strataImg(args));
        assertEquals(-1L, Files.mismatch(QEMU_RESULT, IMAGE), "image bytes afterwards");
        // what real qemu-img check says of strata's result (strata-img check must say the same)
        Parity.assertSameAsQemu("check", IMAGE.toString());
        if (List.of(args).contains("--output=json")) {
            Parity.assertSameAsQemu("check", "--output=json", IMAGE.toString());
        }
    }

    /**
     * Repairs for which qemu makes refcount blocks for the new table, or grows the refcount table
     * to free the old one, are refused by strata before anything is written; qemu-img does change
     * those files.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("refusedCases")
    void refusedUntouched(Damage damage) throws IOException {
        byte[] damaged = damaged(damage);
        Path reference = DIR.resolve("damaged.qcow2");
        Files.write(reference, damaged);
        Files.write(IMAGE, damaged);
        Tools.Result qemu = Tools.qemuImg("check", "-r", "all", IMAGE.toString());
        assertFalse(qemu.timedOut(), "qemu-img timed out");
        // (qemu's result may be a sparse file of several GiB: compared, not read whole)
        assertNotEquals(-1L, Files.mismatch(reference, IMAGE), "qemu-img changes the file");
        Files.delete(IMAGE);
        Files.write(IMAGE, damaged);
        Tools.Result ours = InProcessCli.strataImg("check", "-r", "all", IMAGE.toString());
        assertEquals("", ours.stdout());
        assertEquals("strata-img: Check failed: repairing a snapshot table whose rewrite needs a new refcount block"
                + " is not supported by strata-img; the image was not changed\n", ours.stderr());
        assertEquals(1, ours.exitCode());
        assertArrayEquals(damaged, Files.readAllBytes(IMAGE), "image bytes afterwards");
    }

    static Stream<Damage> refusedCases() {
        return Stream.of(
                new Damage("table offset at 4 GiB", Base.CLUSTERS_4K,
                        p -> p.putU64(Qcow2Patcher.SNAPSHOTS_OFFSET, 1L << 32)),
                new Damage("count 65537", Base.CLUSTERS_512, p -> p.putU32(Qcow2Patcher.NB_SNAPSHOTS, 65537)));
    }

    /**
     * The damages are real: each changes what qemu-img check says of its base image, but for
     * those that only look odd (qemu checks neither VM state sizes, disk sizes nor ids) and those
     * whose damage qemu cannot see (a table that runs past the end of the file within its last
     * cluster; v2 entries read past the end of the file, which need no extra data).
     */
    @Test
    void damagesChangeTheCheck() throws IOException {
        List<String> unseen = List.of("VM state over 4 GiB and odd disk size (V3)", "duplicate ids (V3)",
                "extra data 1000 in the last entry (past the end of the file) (V3)", "count 2 past the table (V2)");
        for (Damage d : damages()) {
            Files.write(IMAGE, base(d.base()));
            Tools.Result intact = Tools.qemuImg("check", IMAGE.toString());
            Files.write(IMAGE, damaged(d));
            Tools.Result broken = Tools.qemuImg("check", IMAGE.toString());
            boolean same = intact.stdout().equals(broken.stdout()) && intact.stderr().equals(broken.stderr());
            assertEquals(unseen.contains(d.toString()), same, d.toString());
        }
    }

    /** Entry 1 gets a 64-bit VM state size over 4 GiB (its 32-bit field 5), entry 2 a disk size of 12345. */
    private static void largeVmStateOddDiskSize(Qcow2Patcher p) {
        p.putU64(entry(p, 1) + 40, 0x100000000L);
        p.putU32(entry(p, 1) + 32, 5);
        p.putU64(entry(p, 2) + 48, 12345);
    }

    /** Entry 1 gets the id of entry 0 ("1"). */
    private static void duplicateId(Qcow2Patcher p) {
        long at = entry(p, 1);
        p.fill(at + 40 + Integer.toUnsignedLong(p.u32(at + 36)), 1, (byte) '1');
    }

    /** The damaged bytes of {@code d}. */
    private static byte[] damaged(Damage d) throws IOException {
        Files.createDirectories(DIR);
        Path work = DIR.resolve("damaging.qcow2");
        Files.write(work, base(d.base()));
        try (Qcow2Patcher p = new Qcow2Patcher(work)) {
            d.patch().accept(p);
        }
        return Files.readAllBytes(work);
    }

    /** The bytes of a base image, made once per test run by qemu-img and qemu-io. */
    private static synchronized byte[] base(Base base) throws IOException {
        byte[] bytes = BASES.get(base);
        if (bytes != null) {
            return bytes;
        }
        Files.createDirectories(DIR);
        Path file = DIR.resolve("base-" + base.name().toLowerCase() + ".qcow2");
        Files.deleteIfExists(file);
        List<String> create = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        if (!base.createOptions.isEmpty()) {
            create.add("-o");
            create.add(base.createOptions);
        }
        create.add(file.toString());
        create.add("16M");
        Tools.qemuImg(create.toArray(String[]::new)).orFail();
        String name = file.toString();
        Tools.qemuIo("-c", "write -P 1 0 64k", "-c", "write -P 2 1M 64k", name).orFail();
        Tools.qemuImg("snapshot", "-c", "s1", name).orFail();
        Tools.qemuIo("-c", "write -P 3 0 64k", name).orFail();
        Tools.qemuImg("snapshot", "-c", "s2", name).orFail();
        Tools.qemuImg("snapshot", "-c", "snap3", name).orFail();
        if (base == Base.DATA_AFTER_TABLE) {
            Tools.qemuIo("-c", "write -P 4 2M 128k", name).orFail();
        }
        bytes = Files.readAllBytes(file);
        BASES.put(base, bytes);
        return bytes;
    }

    /**
     * Host offset of snapshot table entry {@code index}, walking the intact entries before it
     * (8-byte aligned: 40-byte header, extra data, id, name).
     */
    private static long entry(Qcow2Patcher p, int index) {
        long at = p.u64(Qcow2Patcher.SNAPSHOTS_OFFSET);
        for (int i = 0; i < index; i++) {
            at = (at + 7) & ~7L;
            at += 40 + Integer.toUnsignedLong(p.u32(at + 36)) + p.u16(at + 12) + p.u16(at + 14);
        }
        return (at + 7) & ~7L;
    }
}
