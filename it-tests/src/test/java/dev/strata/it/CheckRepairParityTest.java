package dev.strata.it;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata-img check -r leaks|all} against real {@code qemu-img check -r} on twins. Each
 * image is made by real qemu-img/qemu-io and then made inconsistent the way qemu's own tests do:
 * an L2 entry cleared (its cluster leaks), a refcount block entry raised (leak) or lowered
 * (corruption; to zero it needs a refcount rebuild), OFLAG_COPIED cleared, the dirty bit set,
 * refcount table entries zeroed, unaligned, past the end of the file or with reserved bits,
 * refcount blocks overwritten, unaligned preallocated L2 entries (repaired while counting).
 * The same damaged image is repaired by qemu-img at one path, set aside, made again at the same
 * path and repaired by strata-img: stdout, stderr and exit code must match; then both files must
 * be byte for byte the same, real {@code qemu-img check} (human and JSON) and
 * {@code qemu-img map --output=json} must say the same of both results, and
 * {@code qemu-img compare} must find their contents identical (when qemu's result reads at all).
 */
class CheckRepairParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/check-repair-parity");
    private static final Path IMAGE = DIR.resolve("t.qcow2");
    private static final Path QEMU_RESULT = DIR.resolve("qemu-repaired.qcow2");
    /** The damaged image, kept for the second twin (a killed qemu-io's image cannot be made twice). */
    private static final Path DAMAGED = DIR.resolve("damaged.qcow2");
    /** Offset of autoclear_features in a v3 header (docs/interop/qcow2.txt). */
    private static final int AUTOCLEAR_FEATURES = 88;

    /**
     * One damaged image: how it is created and written, which persistent bitmaps it gets (null:
     * none, else one of {@link #withBitmaps}), and how it is damaged.
     */
    private record Damage(String name, String createOptions, String snapshot, String bitmaps,
                          Consumer<Qcow2Patcher> patch) {
        Damage(String name, String createOptions, String snapshot, Consumer<Qcow2Patcher> patch) {
            this(name, createOptions, snapshot, null, patch);
        }

        @Override
        public String toString() {
            return name + (createOptions.isEmpty() ? "" : " (" + createOptions + ")")
                    + (bitmaps == null ? "" : ", bitmaps " + bitmaps);
        }
    }

    static Stream<Arguments> cases() {
        List<Damage> damages = List.of(
                new Damage("clean", "", null, p -> { }),
                new Damage("L2 entry cleared", "", null, p -> clearL2Entry(p, 1)),
                new Damage("two L2 entries cleared", "", null, p -> {
                    clearL2Entry(p, 1);
                    clearL2Entry(p, 3);
                }),
                new Damage("refcount raised", "", null, p -> addToDataRefcount(p, 0, 1)),
                new Damage("refcount raised by 5", "", null, p -> addToDataRefcount(p, 2, 5)),
                new Damage("refcount lowered to 0", "", null, p -> addToDataRefcount(p, 0, -1)),
                new Damage("shared refcount lowered", "", "s1", p -> addToDataRefcount(p, 0, -1)),
                new Damage("shared refcount lowered, L2 entry cleared", "", "s1", p -> {
                    addToDataRefcount(p, 0, -1);
                    clearL2Entry(p, 2);
                }),
                new Damage("shared refcount raised", "", "s1", p -> addToDataRefcount(p, 1, 1)),
                new Damage("OFLAG_COPIED cleared in L2", "", null, p -> clearCopiedL2(p, 0)),
                new Damage("OFLAG_COPIED cleared in L1", "", null, p -> p.putU64(p.l1EntryOffset(0),
                        p.u64(p.l1EntryOffset(0)) & ~(1L << 63))),
                new Damage("OFLAG_COPIED cleared, L2 entry cleared", "", null, p -> {
                    clearCopiedL2(p, 0);
                    clearL2Entry(p, 2);
                }),
                new Damage("OFLAG_COPIED cleared, refcount raised", "", null, p -> {
                    clearCopiedL2(p, 0);
                    addToDataRefcount(p, 2, 1);
                }),
                new Damage("dirty bit, L2 entry cleared", "lazy_refcounts=on", null, p -> {
                    clearL2Entry(p, 1);
                    p.putU64(Qcow2Patcher.INCOMPATIBLE_FEATURES, p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) | 1);
                }),
                new Damage("L2 entry cleared", "compat=0.10", null, p -> clearL2Entry(p, 1)),
                new Damage("L2 entry cleared", "refcount_bits=1", null, p -> clearL2Entry(p, 1)),
                new Damage("L2 entry cleared", "refcount_bits=64", null, p -> clearL2Entry(p, 1)),
                new Damage("L2 entry cleared", "cluster_size=4096", null, p -> clearL2Entry(p, 5)),
                new Damage("L2 entry cleared", "extended_l2=on", null, p -> clearL2Entry(p, 1)),
                new Damage("L2 entry cleared, subcluster bitmap left", "extended_l2=on", null,
                        p -> p.putU64(l2EntryOffset(p, 1), 0)),
                // refcount structure rebuilds (-r all) and "need to rebuild" (-r leaks)
                new Damage("refcount table entry zeroed", "", null, p -> p.putU64(reftableEntry(p, 0), 0)),
                new Damage("refcount table entry zeroed", "refcount_bits=1", null, p -> p.putU64(reftableEntry(p, 0), 0)),
                new Damage("refcount table entry zeroed", "refcount_bits=64", null,
                        p -> p.putU64(reftableEntry(p, 0), 0)),
                new Damage("refcount table entry zeroed", "compat=0.10", null, p -> p.putU64(reftableEntry(p, 0), 0)),
                new Damage("refcount table entry zeroed", "extended_l2=on", null,
                        p -> p.putU64(reftableEntry(p, 0), 0)),
                new Damage("refcount table zeroed", "cluster_size=512", null, p -> {
                    for (int i = 0; i < 64; i++) {
                        p.putU64(reftableEntry(p, i), 0);
                    }
                }),
                new Damage("second refcount block pointer zeroed", "cluster_size=512", null,
                        p -> p.putU64(reftableEntry(p, 1), 0)),
                new Damage("refcount table entry zeroed", "", "s1", p -> p.putU64(reftableEntry(p, 0), 0)),
                new Damage("refcount table entry zeroed, dirty bit", "lazy_refcounts=on", null, p -> {
                    p.putU64(reftableEntry(p, 0), 0);
                    p.putU64(Qcow2Patcher.INCOMPATIBLE_FEATURES, p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) | 1);
                }),
                new Damage("refcount block zeroed", "", null,
                        p -> p.fill(p.firstRefcountBlock(), (int) p.clusterSize(), (byte) 0)),
                new Damage("refcount block filled with 0xff", "", null,
                        p -> p.fill(p.firstRefcountBlock(), (int) p.clusterSize(), (byte) 0xff)),
                new Damage("refcount block half zeroed", "", null,
                        p -> p.fill(p.firstRefcountBlock() + 8, 12, (byte) 0)),
                new Damage("refcount table entry past EOF", "", null,
                        p -> p.putU64(reftableEntry(p, 0), 0xf00000L)),
                new Damage("refcount table entry unaligned", "", null,
                        p -> p.putU64(reftableEntry(p, 0), p.u64(reftableEntry(p, 0)) + 0x200)),
                new Damage("refcount table entry with reserved bits", "", null,
                        p -> p.putU64(reftableEntry(p, 0), p.u64(reftableEntry(p, 0)) | 1)),
                new Damage("refcount table entry far past EOF", "", null,
                        p -> p.putU64(reftableEntry(p, 0), p.u64(reftableEntry(p, 0)) | (1L << 63))),
                new Damage("refcount block pointer on the L2 table", "", null,
                        p -> p.putU64(reftableEntry(p, 0), p.l2TableOffset(0))),
                new Damage("L2 table refcount lowered to 0", "", null, p -> {
                    long at = p.firstRefcountBlock() + 2 * (p.l2TableOffset(0) >>> p.clusterBits());
                    p.putU16(at, 0);
                }),
                new Damage("unaligned preallocated L2 entry", "", null, p -> {
                    long at = l2EntryOffset(p, 1);
                    p.putU64(at, p.u64(at) + 0x200 | 1);
                }),
                new Damage("unaligned preallocated L2 entry", "extended_l2=on", null, p -> {
                    long at = l2EntryOffset(p, 1);
                    p.putU64(at, p.u64(at) + 0x200);
                    p.putU64(at + 8, 0xffffffff00000000L);
                }),
                // corruptions -r all only reports (it used to be refused before qemu's flow was complete)
                new Damage("L2 entry with a reserved bit", "", null,
                        p -> p.putU64(l2EntryOffset(p, 1), p.u64(l2EntryOffset(p, 1)) | 2)),
                new Damage("L1 entry with reserved bits", "", null,
                        p -> p.putU64(p.l1EntryOffset(0), p.u64(p.l1EntryOffset(0)) | (1L << 60))),
                new Damage("L1 entry unaligned", "", null,
                        p -> p.putU64(p.l1EntryOffset(0), p.u64(p.l1EntryOffset(0)) + 0x200)),
                new Damage("L2 entry far past EOF", "", null,
                        p -> p.putU64(l2EntryOffset(p, 2), (1L << 63) | 0x10000000L)),
                new Damage("unaligned data L2 entry", "", null, p -> {
                    long at = l2EntryOffset(p, 1);
                    p.putU64(at, p.u64(at) + 0x200);
                }));
        List<Arguments> c = new ArrayList<>();
        for (Damage d : damages) {
            for (String mode : List.of("leaks", "all")) {
                c.add(Arguments.of(d, new String[] {"check", "-r", mode, IMAGE.toString()}));
                c.add(Arguments.of(d, new String[] {"check", "-r", mode, "--output=json", IMAGE.toString()}));
            }
        }
        Damage leak = damages.get(1);
        c.add(Arguments.of(leak, new String[] {"check", "-q", "-r", "leaks", IMAGE.toString()}));
        c.add(Arguments.of(leak, new String[] {"check", "-r", "all", "-f", "qcow2", IMAGE.toString()}));
        c.add(Arguments.of(leak, new String[] {"check", "--repair=leaks", IMAGE.toString()}));
        c.add(Arguments.of(leak, new String[] {"check", "-r", "some", IMAGE.toString()}));
        bitmapCases(c);
        return c.stream();
    }

    /**
     * Images with persistent bitmaps: qemu-img check -r opens them read-write, which marks the
     * bitmaps in_use, and its close stores them again (new data clusters, tables and directory;
     * the old ones freed). With -r leaks a structure that needs a rebuild is left out: qemu then
     * allocates the bitmaps' clusters from refcounts it knows to be wrong, which strata does not
     * do (see Qcow2RepairRun).
     */
    private static void bitmapCases(List<Arguments> c) {
        List<Damage> any = new ArrayList<>();
        List<Damage> rebuild = new ArrayList<>();
        for (String b : List.of("added", "dirty", "in_use")) {
            any.add(new Damage("clean", "", null, b, p -> { }));
            any.add(new Damage("L2 entry cleared", "", null, b, p -> clearL2Entry(p, 1)));
            any.add(new Damage("refcount raised", "", null, b, p -> addToDataRefcount(p, 2, 1)));
            rebuild.add(new Damage("refcount block zeroed", "", null, b,
                    p -> p.fill(p.firstRefcountBlock(), (int) p.clusterSize(), (byte) 0)));
        }
        any.add(new Damage("no data", "", null, "empty", p -> { }));
        any.add(new Damage("OFLAG_COPIED cleared, L2 entry cleared", "", null, "dirty", p -> {
            clearCopiedL2(p, 0);
            clearL2Entry(p, 2);
        }));
        any.add(new Damage("dirty bit, L2 entry cleared", "lazy_refcounts=on", null, "dirty", p -> {
            clearL2Entry(p, 1);
            p.putU64(Qcow2Patcher.INCOMPATIBLE_FEATURES, p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) | 1);
        }));
        any.add(new Damage("L2 entry cleared", "cluster_size=4096", null, "dirty", p -> clearL2Entry(p, 5)));
        any.add(new Damage("L2 entry cleared", "refcount_bits=1", null, "dirty", p -> clearL2Entry(p, 1)));
        rebuild.add(new Damage("refcount table entry zeroed", "", null, "dirty",
                p -> p.putU64(reftableEntry(p, 0), 0)));
        rebuild.add(new Damage("refcount lowered to 0", "", null, "dirty", p -> addToDataRefcount(p, 0, -1)));
        rebuild.add(new Damage("refcount table entry zeroed", "cluster_size=4096", null, "dirty",
                p -> p.putU64(reftableEntry(p, 0), 0)));
        for (Damage d : any) {
            c.add(Arguments.of(d, new String[] {"check", "-r", "leaks", IMAGE.toString()}));
            c.add(Arguments.of(d, new String[] {"check", "-r", "all", IMAGE.toString()}));
        }
        for (Damage d : rebuild) {
            c.add(Arguments.of(d, new String[] {"check", "-r", "all", IMAGE.toString()}));
        }
        c.add(Arguments.of(any.get(1), new String[] {"check", "-r", "all", "--output=json", IMAGE.toString()}));
        c.add(Arguments.of(any.get(1), new String[] {"check", "-q", "-r", "leaks", IMAGE.toString()}));
    }

    /**
     * An L1 entry that places its L2 table inside the header cluster: the repair reads header
     * bytes as L2 entries, finds one whose OFLAG_COPIED it would fix, and qemu's overlap check
     * stops the write of that "table": the image is marked corrupt and the check fails (EIO).
     * Output, exit code and the corrupt bit must match. Not the bytes: the refcount fixes just
     * before are lost in qemu (its refcount cache is never flushed once the image is corrupt),
     * strata has written them.
     */
    @Test
    void anL2TableOverTheHeaderStopsTheRepair() throws IOException {
        Files.createDirectories(DIR);
        Files.deleteIfExists(IMAGE);
        Tools.qemuImg("create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", IMAGE.toString(), "64M").orFail();
        Tools.qemuIo("-c", "write -P 1 0 4k", IMAGE.toString()).orFail();
        try (Qcow2Patcher p = new Qcow2Patcher(IMAGE)) {
            p.putU64(p.l1EntryOffset(0), (1L << 63) | 0x200);
        }
        Files.copy(IMAGE, DAMAGED, StandardCopyOption.REPLACE_EXISTING);
        String[] args = {"check", "-r", "all", IMAGE.toString()};
        Tools.Result qemu = Tools.qemuImg(args);
        Files.move(IMAGE, QEMU_RESULT, StandardCopyOption.REPLACE_EXISTING);
        Files.copy(DAMAGED, IMAGE);
        Parity.assertSame(qemu, InProcessCli.strataImg(args));
        assertEquals(1, qemu.exitCode(), qemu.stderr());
        for (Path image : List.of(QEMU_RESULT, IMAGE)) {
            String info = Tools.qemuImg("info", "--output=json", image.toString()).orFail().stdout();
            assertTrue(info.contains("\"corrupt\": true"), image + ": " + info);
        }
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void sameAsQemuImg(Damage damage, String[] args) throws IOException {
        make(damage);
        Files.copy(IMAGE, DAMAGED, StandardCopyOption.REPLACE_EXISTING);
        Tools.Result qemu = Tools.qemuImg(args);
        Files.deleteIfExists(QEMU_RESULT);
        Files.move(IMAGE, QEMU_RESULT);
        Files.copy(DAMAGED, IMAGE);
        Parity.assertSame(qemu, InProcessCli.strataImg(args));
        assertArrayEquals(bytesWithoutSnapshotTimes(QEMU_RESULT), bytesWithoutSnapshotTimes(IMAGE),
                "image bytes after the repair");

        for (String output : List.of("human", "json")) {
            Tools.Result theirs = Tools.qemuImg("check", "--output=" + output, QEMU_RESULT.toString());
            Tools.Result ours = Tools.qemuImg("check", "--output=" + output, IMAGE.toString());
            assertEquals(theirs.stdout().replace(QEMU_RESULT.toString(), IMAGE.toString()), ours.stdout(), output);
            assertEquals(theirs.stderr(), ours.stderr(), output);
            assertEquals(theirs.exitCode(), ours.exitCode(), output);
        }
        Tools.Result theirMap = Tools.qemuImg("map", "--output=json", QEMU_RESULT.toString());
        Tools.Result ourMap = Tools.qemuImg("map", "--output=json", IMAGE.toString());
        assertEquals(theirMap.stdout(), ourMap.stdout(), "map");
        assertEquals(theirMap.exitCode(), ourMap.exitCode(), "map exit code");
        String theirs = QEMU_RESULT.toString();
        if (Tools.qemuImg("compare", "-f", "qcow2", "-F", "qcow2", theirs, theirs).exitCode() == 0) {
            // (an image still corrupt after qemu's repair may not even read: then there is nothing to compare)
            Tools.qemuImg("compare", "-f", "qcow2", "-F", "qcow2", theirs, IMAGE.toString()).orFail();
        }
    }

    static Stream<Arguments> snapshotLossCases() {
        List<Arguments> c = new ArrayList<>();
        for (String mode : List.of("leaks", "all")) {
            c.add(Arguments.of(new Damage("clean", "", "s1", "dirty", p -> { }), mode));
            c.add(Arguments.of(new Damage("L2 entry cleared", "", "s1", "added", p -> clearL2Entry(p, 1)), mode));
            c.add(Arguments.of(new Damage("unknown autoclear bit", "", "s1", p -> p.putU64(AUTOCLEAR_FEATURES,
                    p.u64(AUTOCLEAR_FEATURES) | (1L << 9))), mode));
        }
        return c.stream();
    }

    /**
     * An image with internal snapshots whose header qemu-img check -r's open rewrites (a
     * consistent bitmap to mark in_use, an unknown autoclear bit to drop): qemu 7.2's check mode
     * holds no snapshot table, so it writes the header without one and its repair frees the
     * snapshots' clusters. strata refuses that repair before it writes anything. Checked here:
     * real qemu-img's result has lost the snapshots (else strata should do as qemu does), and
     * strata-img says why it refuses, exits 1 and leaves the file as it was.
     */
    @ParameterizedTest(name = "{0}: -r {1}")
    @MethodSource("snapshotLossCases")
    void repairThatDropsSnapshotsRefused(Damage damage, String mode) throws IOException {
        make(damage);
        Files.copy(IMAGE, DAMAGED, StandardCopyOption.REPLACE_EXISTING);
        Tools.qemuImg("check", "-r", mode, IMAGE.toString());
        assertEquals(0, Tools.qemuImg("snapshot", "-l", IMAGE.toString()).orFail().stdout().length(),
                "qemu-img check -r kept the snapshot table");
        Files.copy(DAMAGED, IMAGE, StandardCopyOption.REPLACE_EXISTING);

        Tools.Result ours = InProcessCli.strataImg("check", "-r", mode, IMAGE.toString());
        assertEquals("", ours.stdout());
        assertEquals("strata-img: Check failed: repairing an image with internal snapshots whose header qemu-img"
                + " check -r rewrites (qemu-img 7.2 drops the snapshot table then) is not supported by strata-img;"
                + " the image was not changed\n", ours.stderr());
        assertEquals(1, ours.exitCode());
        assertEquals(-1L, Files.mismatch(DAMAGED, IMAGE), "image bytes");
    }

    @ParameterizedTest(name = "raw {0}")
    @MethodSource("rawCases")
    void rawHasNoChecks(String label, String[] args) throws IOException {
        Path raw = DIR.resolve("r.raw");
        Files.createDirectories(DIR);
        Files.deleteIfExists(raw);
        Tools.qemuImg("create", "-q", "-f", "raw", raw.toString(), "1M").orFail();
        Parity.assertSameAsQemu(args);
    }

    static Stream<Arguments> rawCases() {
        String raw = DIR.resolve("r.raw").toString();
        return Stream.of(
                Arguments.of("probed -r leaks", new String[] {"check", "-r", "leaks", raw}),
                Arguments.of("probed -r all", new String[] {"check", "-r", "all", raw}),
                Arguments.of("-f raw -r all", new String[] {"check", "-f", "raw", "-r", "all", raw}),
                Arguments.of("probed -r leaks json", new String[] {"check", "-r", "leaks", "--output=json", raw}));
    }

    private static void make(Damage d) throws IOException {
        Files.createDirectories(DIR);
        Files.deleteIfExists(IMAGE);
        List<String> create = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        if (!d.createOptions().isEmpty()) {
            create.add("-o");
            create.add(d.createOptions());
        }
        create.add(IMAGE.toString());
        create.add("16M");
        Tools.qemuImg(create.toArray(String[]::new)).orFail();
        // eight 64 KiB data clusters (or small ones), written one by one so they sit in guest order
        List<String> io = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            io.add("-c");
            io.add("write -P " + (i + 1) + " " + (i * 65536) + " 65536");
        }
        io.add(IMAGE.toString());
        if (!"empty".equals(d.bitmaps())) {
            Tools.qemuIo(io.toArray(String[]::new)).orFail();
        }
        if (d.bitmaps() != null) {
            withBitmaps(d.bitmaps());
        }
        if (d.snapshot() != null) {
            Tools.qemuImg("snapshot", "-c", d.snapshot(), IMAGE.toString()).orFail();
        }
        try (Qcow2Patcher p = new Qcow2Patcher(IMAGE)) {
            d.patch().accept(p);
        }
    }

    /**
     * Persistent bitmaps on IMAGE, made by real qemu-img and qemu-io after its data: "added", a
     * bitmap added to the written image (all clean); "dirty", an enabled bitmap and a disabled
     * one of 512 B granularity, both made dirty by qemu-io writes (one past the written
     * clusters); "in_use", a bitmap left in_use by a qemu-io killed while it held the image (its
     * clusters leaked), then those two; "empty", one bitmap on an image without data (make()
     * writes none then).
     */
    private static void withBitmaps(String kind) {
        String f = IMAGE.toString();
        switch (kind) {
            case "added", "empty" -> Tools.qemuImg("bitmap", "--add", f, "b").orFail();
            case "dirty", "in_use" -> {
                if (kind.equals("in_use")) {
                    // every bitmap the killed qemu-io held stays in_use: those added later do not
                    Tools.qemuImg("bitmap", "--add", f, "u").orFail();
                    Tools.qemuIo("-f", "qcow2", "-c", "write -P 0x74 5M 4k", "-c", "sigraise 9", f);
                }
                Tools.qemuImg("bitmap", "--add", f, "b").orFail();
                Tools.qemuImg("bitmap", "--add", "-g", "512", f, "d").orFail();
                Tools.qemuIo("-f", "qcow2", "-c", "write -P 0x71 64k 4k", "-c", "write -P 0x72 9M 1k", f).orFail();
                Tools.qemuImg("bitmap", "--disable", f, "d").orFail();
                Tools.qemuIo("-f", "qcow2", "-c", "write -P 0x73 3M 64k", f).orFail();
            }
            default -> throw new IllegalArgumentException(kind);
        }
    }

    /**
     * The file's bytes with the first cluster of its snapshot table zeroed: the twins' snapshots
     * were taken at different times.
     */
    static byte[] bytesWithoutSnapshotTimes(Path image) throws IOException {
        byte[] b = Files.readAllBytes(image);
        ByteBuffer header = ByteBuffer.wrap(b);
        if (header.getInt(Qcow2Patcher.NB_SNAPSHOTS) > 0) {
            long at = header.getLong(Qcow2Patcher.SNAPSHOTS_OFFSET);
            long end = Math.min(b.length, at + (1L << header.getInt(Qcow2Patcher.CLUSTER_BITS)));
            if (at >= 0 && at < end) {
                Arrays.fill(b, (int) at, (int) end, (byte) 0);
            }
        }
        return b;
    }

    /** Host offset of refcount table entry {@code index}. */
    private static long reftableEntry(Qcow2Patcher p, int index) {
        return p.u64(Qcow2Patcher.REFCOUNT_TABLE_OFFSET) + 8L * index;
    }

    /** Host offset of L2 entry {@code index} of the first L2 table (standard or extended entries). */
    private static long l2EntryOffset(Qcow2Patcher p, int index) {
        return p.l2TableOffset(0) + (isExtended(p) ? 16L : 8L) * index;
    }

    /** Whether the image has extended L2 entries (incompatible feature bit 4). */
    private static boolean isExtended(Qcow2Patcher p) {
        return p.u32(Qcow2Patcher.VERSION) >= 3 && (p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) & (1L << 4)) != 0;
    }

    /** Clears L2 entry {@code index} (both words of an extended entry). */
    private static void clearL2Entry(Qcow2Patcher p, int index) {
        long at = l2EntryOffset(p, index);
        p.putU64(at, 0);
        if (isExtended(p)) {
            p.putU64(at + 8, 0);
        }
    }

    private static void clearCopiedL2(Qcow2Patcher p, int index) {
        long at = l2EntryOffset(p, index);
        p.putU64(at, p.u64(at) & ~(1L << 63));
    }

    /** Adds {@code delta} to the 16-bit refcount of the data cluster of guest cluster {@code index}. */
    private static void addToDataRefcount(Qcow2Patcher p, int index, int delta) {
        long host = p.u64(l2EntryOffset(p, index)) & Qcow2Patcher.OFFSET_MASK;
        long at = p.firstRefcountBlock() + 2 * (host >>> p.clusterBits());
        p.putU16(at, p.u16(at) + delta);
    }
}
