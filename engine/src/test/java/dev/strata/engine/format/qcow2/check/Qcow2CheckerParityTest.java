package dev.strata.engine.format.qcow2.check;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The checker against the real {@code qemu-img check} on images made by the real qemu-img and
 * qemu-io and then damaged by one controlled byte patch: every stderr line (ERROR / Leaked /
 * OFLAG_COPIED / out of range / misaligned / overflow messages, in qemu's order), every counter
 * of the report, and the exit code must be qemu's.
 *
 * <p>Image variety: cluster sizes 512 B to 2 MiB, v2 and v3, refcount widths 1 to 64 bits,
 * extended L2 entries, compressed clusters, internal snapshots, persistent bitmaps, an external
 * data file.
 */
class Qcow2CheckerParityTest {
    @TempDir
    static Path dir;

    private static final Map<String, Path> BASES = new ConcurrentHashMap<>();

    /** How to make one base image: qemu-img create options, size, qemu-io writes, extras. */
    private record Base(String options, String size, List<String> writes, boolean snapshot, boolean bitmaps,
                        boolean dataFile) {
        static Base of(String options, String... writes) {
            return new Base(options, "4M", List.of(writes), false, false, false);
        }
    }

    private static final Map<String, Base> CONFIGS = new LinkedHashMap<>();

    static {
        String[] standard = {"write -P 7 0 128k", "write -P 8 1M 64k"};
        CONFIGS.put("c64k", Base.of("", standard));
        CONFIGS.put("c512", Base.of("cluster_size=512", "write -P 7 0 40k", "write -P 8 100k 3k"));
        CONFIGS.put("c4k", Base.of("cluster_size=4096", standard));
        CONFIGS.put("c2m", new Base("cluster_size=2M", "64M", List.of("write -P 7 0 3M", "write -P 8 20M 64k"),
                false, false, false));
        CONFIGS.put("v2", Base.of("compat=0.10", standard));
        for (int bits : new int[] {1, 2, 4, 8, 32, 64}) {
            CONFIGS.put("rb" + bits, Base.of("refcount_bits=" + bits, standard));
        }
        CONFIGS.put("extl2", Base.of("extended_l2=on", "write -P 7 0 128k", "write -P 8 1M 3k"));
        CONFIGS.put("extl2-16k", Base.of("extended_l2=on,cluster_size=16k", standard));
        CONFIGS.put("compressed", Base.of("", "write -c -P 7 0 256k", "write -P 8 1M 64k"));
        CONFIGS.put("compressed512", Base.of("cluster_size=512", "write -c -P 7 0 16k", "write -P 8 20k 2k"));
        CONFIGS.put("snapshots", new Base("", "4M", List.of(standard), true, false, false));
        CONFIGS.put("bitmaps", new Base("", "4M", List.of(standard), false, true, false));
        CONFIGS.put("datafile", new Base("", "4M", List.of(standard), false, false, true));
        CONFIGS.put("lazy", Base.of("lazy_refcounts=on", standard));
    }

    /** One controlled inconsistency. */
    private static final Map<String, Consumer<ImagePatcher>> DAMAGE = new LinkedHashMap<>();

    static {
        DAMAGE.put("none", p -> { });
        DAMAGE.put("leak", ImagePatcher::appendLeakedCluster);
        DAMAGE.put("refcount-zero", p -> p.setRefcount(p.dataCluster(p.firstDataEntry()), 0));
        DAMAGE.put("l2-copied-flag", p -> p.w64(p.firstDataEntry(), p.u64(p.firstDataEntry()) ^ ImagePatcher.COPIED));
        DAMAGE.put("l2-misaligned", p -> p.setL1(0, p.l1(0) + (p.clusterSize > 512 ? 0x200 : 0x100)));
        DAMAGE.put("data-misaligned", p -> p.w64(p.firstDataEntry(), p.u64(p.firstDataEntry())
                + (p.clusterSize > 512 ? 0x200 : 1)));
        DAMAGE.put("truncated", p -> p.setLength(p.length() - 2L * p.clusterSize - 512));
        DAMAGE.put("reftable-misaligned", p -> p.setRefcountTableEntry(0, p.refcountTableEntry(0) + 0x100));
        // The rest only on the default image.
        DAMAGE.put("l1-copied-flag", p -> p.setL1(0, p.l1(0) ^ ImagePatcher.COPIED));
        DAMAGE.put("l2-past-eof", p -> p.setL1(0, ImagePatcher.COPIED | (p.fileClusters() + 5) * p.clusterSize));
        DAMAGE.put("l2-far-past-eof", p -> p.setL1(0, ImagePatcher.COPIED | (1L << 50)));
        DAMAGE.put("l1-reserved-bits", p -> p.setL1(0, p.l1(0) | (1L << 60) | 1));
        DAMAGE.put("l2-reserved-bits", p -> p.w64(p.firstDataEntry(), p.u64(p.firstDataEntry()) | 2));
        DAMAGE.put("data-past-eof", p -> p.w64(p.firstDataEntry(),
                (p.u64(p.firstDataEntry()) & ~ImagePatcher.L1_OFFSET_MASK) | (p.fileClusters() + 7) * p.clusterSize));
        DAMAGE.put("zero-flag", p -> p.w64(p.firstDataEntry(), p.u64(p.firstDataEntry()) | 1));
        DAMAGE.put("refcount-two", p -> p.setRefcount(p.dataCluster(p.firstDataEntry()), 2));
        DAMAGE.put("header-refcount-zero", p -> p.setRefcount(0, 0));
        DAMAGE.put("reftable-reserved-bits", p -> p.setRefcountTableEntry(0, p.refcountTableEntry(0) | 1));
        DAMAGE.put("reftable-outside", p -> p.setRefcountTableEntry(1, (p.fileClusters() + 10) * p.clusterSize));
        DAMAGE.put("reftable-zero", p -> p.setRefcountTableEntry(0, 0));
        DAMAGE.put("no-refcount-table", p -> p.w32(56, 0));
        DAMAGE.put("unallocated-copied", p -> {
            long l2 = p.l2Table(0);
            for (int j = 0; ; j++) {
                if (p.u64(p.l2EntryOffset(l2, j)) == 0) {
                    p.w64(p.l2EntryOffset(l2, j), ImagePatcher.COPIED);
                    return;
                }
            }
        });
        DAMAGE.put("subcluster-bitmap", p -> p.w64(p.firstDataEntry() + 8, -1L));
        DAMAGE.put("compressed-copied-flag", p -> p.w64(p.firstCompressedEntry(),
                p.u64(p.firstCompressedEntry()) | ImagePatcher.COPIED));
        DAMAGE.put("compressed-refcount-zero", p -> {
            long e = p.u64(p.firstCompressedEntry());
            long offset = e & ((1L << (62 - (p.header.clusterBits() - 8))) - 1);
            p.setRefcount(offset / p.clusterSize, 0);
        });
        DAMAGE.put("truncated-in-compressed", p -> p.setLength(p.length() - 700));
    }

    private static final List<String> COMMON_DAMAGE = List.of("none", "leak", "refcount-zero", "l2-copied-flag",
            "l2-misaligned", "data-misaligned", "truncated", "reftable-misaligned");

    private static final List<String> SPECIAL_DAMAGE = List.of("subcluster-bitmap", "compressed-copied-flag",
            "compressed-refcount-zero", "truncated-in-compressed");

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String damage : DAMAGE.keySet()) {
            if (!SPECIAL_DAMAGE.contains(damage)) {
                out.add(Arguments.of("c64k", damage));
            }
        }
        for (String config : CONFIGS.keySet()) {
            if (config.equals("c64k")) {
                continue;
            }
            for (String damage : COMMON_DAMAGE) {
                out.add(Arguments.of(config, damage));
            }
        }
        out.add(Arguments.of("extl2", "subcluster-bitmap"));
        out.add(Arguments.of("compressed", "compressed-copied-flag"));
        out.add(Arguments.of("compressed", "compressed-refcount-zero"));
        out.add(Arguments.of("compressed512", "compressed-refcount-zero"));
        out.add(Arguments.of("compressed512", "truncated-in-compressed"));
        return out.stream();
    }


    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void sameAsQemu(String config, String damage) throws IOException {
        Path image = dir.resolve(config + "-" + damage + ".qcow2");
        Files.copy(base(config), image);
        try (ImagePatcher p = new ImagePatcher(image)) {
            DAMAGE.get(damage).accept(p);
        }
        QemuCheck.assertSameAsQemu(image);
    }

    /** The base image of {@code config}, made once by the real tools. */
    static Path base(String config) {
        return BASES.computeIfAbsent(config, c -> {
            Base b = CONFIGS.get(c);
            Path path = dir.resolve(c + ".base");
            List<String> create = new ArrayList<>(List.of("qemu-img", "create", "-f", "qcow2"));
            String options = b.options();
            if (b.dataFile()) {
                options = (options.isEmpty() ? "" : options + ",") + "data_file=" + dir.resolve(c + ".data");
            }
            if (!options.isEmpty()) {
                create.add("-o");
                create.add(options);
            }
            create.add(path.toString());
            create.add(b.size());
            QemuCheck.must(dir, create.toArray(String[]::new));
            List<String> io = new ArrayList<>(List.of("qemu-io"));
            for (String w : b.writes()) {
                io.add("-c");
                io.add(w);
            }
            io.add(path.toString());
            QemuCheck.must(dir, io.toArray(String[]::new));
            if (b.snapshot()) {
                QemuCheck.must(dir, "qemu-img", "snapshot", "-c", "s1", path.toString());
                QemuCheck.must(dir, "qemu-io", "-c", "write -P 9 0 64k", path.toString());
                QemuCheck.must(dir, "qemu-img", "snapshot", "-c", "s2", path.toString());
            }
            if (b.bitmaps()) {
                QemuCheck.must(dir, "qemu-img", "bitmap", "--add", path.toString(), "b0");
                QemuCheck.must(dir, "qemu-img", "bitmap", "--add", "--disable", path.toString(), "b1");
            }
            return path;
        });
    }
}
