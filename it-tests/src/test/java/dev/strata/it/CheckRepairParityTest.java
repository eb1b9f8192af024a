package dev.strata.it;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code strata-img check -r leaks|all} against real {@code qemu-img check -r} on twins. Each
 * image is made by real qemu-img/qemu-io and then made inconsistent the way qemu's own tests do:
 * an L2 entry cleared (its cluster leaks), a refcount block entry raised (leak) or lowered
 * (corruption; to zero it needs a refcount rebuild), OFLAG_COPIED cleared, the dirty bit set.
 * The same damaged image is repaired by qemu-img at one path, set aside, made again at the same
 * path and repaired by strata-img: stdout, stderr and exit code must match; then real
 * {@code qemu-img check} (human and JSON) must say the same of both results, and
 * {@code qemu-img compare} must find their contents identical (when qemu's result reads at all).
 */
class CheckRepairParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/check-repair-parity");
    private static final Path IMAGE = DIR.resolve("t.qcow2");
    private static final Path QEMU_RESULT = DIR.resolve("qemu-repaired.qcow2");

    /** One damaged image: how it is created and written, and how it is damaged. */
    private record Damage(String name, String createOptions, String snapshot, Consumer<Qcow2Patcher> patch) {
        @Override
        public String toString() {
            return name + (createOptions.isEmpty() ? "" : " (" + createOptions + ")");
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
                        p -> p.putU64(l2EntryOffset(p, 1), 0)));
        List<Arguments> c = new ArrayList<>();
        for (Damage d : damages) {
            for (String mode : List.of("leaks", "all")) {
                if (mode.equals("all") && (d.name().equals("refcount lowered to 0") || d.name().endsWith("bitmap left"))) {
                    continue; // qemu rebuilds the refcount structure / repairs L2 entries: not implemented
                }
                c.add(Arguments.of(d, new String[] {"check", "-r", mode, IMAGE.toString()}));
                c.add(Arguments.of(d, new String[] {"check", "-r", mode, "--output=json", IMAGE.toString()}));
            }
        }
        Damage leak = damages.get(1);
        c.add(Arguments.of(leak, new String[] {"check", "-q", "-r", "leaks", IMAGE.toString()}));
        c.add(Arguments.of(leak, new String[] {"check", "-r", "all", "-f", "qcow2", IMAGE.toString()}));
        c.add(Arguments.of(leak, new String[] {"check", "--repair=leaks", IMAGE.toString()}));
        c.add(Arguments.of(leak, new String[] {"check", "-r", "some", IMAGE.toString()}));
        return c.stream();
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("cases")
    void sameAsQemuImg(Damage damage, String[] args) throws IOException {
        make(damage);
        Tools.Result qemu = Tools.qemuImg(args);
        Files.deleteIfExists(QEMU_RESULT);
        Files.move(IMAGE, QEMU_RESULT);
        make(damage);
        Parity.assertSame(qemu, InProcessCli.strataImg(args));

        for (String output : List.of("human", "json")) {
            Tools.Result theirs = Tools.qemuImg("check", "--output=" + output, QEMU_RESULT.toString());
            Tools.Result ours = Tools.qemuImg("check", "--output=" + output, IMAGE.toString());
            assertEquals(theirs.stdout().replace(QEMU_RESULT.toString(), IMAGE.toString()), ours.stdout(), output);
            assertEquals(theirs.stderr(), ours.stderr(), output);
            assertEquals(theirs.exitCode(), ours.exitCode(), output);
        }
        String theirs = QEMU_RESULT.toString();
        if (Tools.qemuImg("compare", "-f", "qcow2", "-F", "qcow2", theirs, theirs).exitCode() == 0) {
            // (an image still corrupt after qemu's repair may not even read: then there is nothing to compare)
            Tools.qemuImg("compare", "-f", "qcow2", "-F", "qcow2", theirs, IMAGE.toString()).orFail();
        }
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
        Tools.qemuIo(io.toArray(String[]::new)).orFail();
        if (d.snapshot() != null) {
            Tools.qemuImg("snapshot", "-c", d.snapshot(), IMAGE.toString()).orFail();
        }
        try (Qcow2Patcher p = new Qcow2Patcher(IMAGE)) {
            d.patch().accept(p);
        }
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
