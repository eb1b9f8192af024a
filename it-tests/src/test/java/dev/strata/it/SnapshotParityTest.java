package dev.strata.it;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static dev.strata.it.ImageRecipes.deleteTree;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code strata-img snapshot} (and {@code convert -l}) against real qemu-img 7.2 on twins. A set
 * of images is made once with the real qemu-img/qemu-io (data, zero and compressed clusters,
 * backing file, extended L2, 512 B and 2 MiB clusters, v2, several and duplicate snapshots, a
 * resized image, refcount_bits=1 and 2 (a refcount overflow), raw, external data file, and two damaged snapshot tables).
 * Steps include {@code convert -l} and {@code measure -l}. Each case copies the set into a work directory and runs its steps with qemu-img, sets the
 * directory aside, copies the set again to the same path and runs the steps with strata-img
 * (steps marked "Q:" run real qemu-img on both sides: snapshots strata made, used by qemu).
 * Every step's stdout, stderr and exit code must match (dates masked); then every file of the two
 * directories must be byte-identical except the snapshot table's date fields, and for the image
 * the real tool's info (dates and actual size masked), check and map must match, and the active
 * layer and every snapshot (real convert -l) must compare identical.
 */
class SnapshotParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/snapshot-parity");
    private static final Path TEMPLATE = DIR.resolve("template");
    private static final Path WORK = DIR.resolve("work");
    private static final Path QEMU_RESULT = DIR.resolve("qemu");
    private static final Pattern DATE = Pattern.compile("\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d");

    static Stream<Arguments> cases() {
        List<Arguments> c = new ArrayList<>();
        // list
        add(c, "base.qcow2", "snapshot -l base.qcow2");
        add(c, "base.qcow2", "snapshot -U -l base.qcow2");
        add(c, "base.qcow2", "snapshot -q -l -f qcow2 base.qcow2");
        add(c, "plain.qcow2", "snapshot -l plain.qcow2");
        add(c, "dup.qcow2", "snapshot -l dup.qcow2");
        add(c, "r.raw", "snapshot -l r.raw");
        add(c, "df.qcow2", "snapshot -l df.qcow2");
        add(c, "base.qcow2", "snapshot base.qcow2");
        // create
        add(c, "base.qcow2", "snapshot -c new base.qcow2", "snapshot -l base.qcow2");
        add(c, "base.qcow2", "snapshot -q -c new base.qcow2");
        add(c, "base.qcow2", "snapshot -c s1 base.qcow2", "snapshot -l base.qcow2");
        add(c, "base.qcow2", "snapshot -c " + "n".repeat(300) + " base.qcow2", "snapshot -l base.qcow2");
        add(c, "plain.qcow2", "snapshot -c a plain.qcow2", "info plain.qcow2");
        add(c, "v2.qcow2", "snapshot -c a v2.qcow2");
        add(c, "rc2.qcow2", "snapshot -c a rc2.qcow2", "snapshot -l rc2.qcow2");
        add(c, "ext.qcow2", "snapshot -c a ext.qcow2");
        add(c, "c512.qcow2", "snapshot -c a c512.qcow2");
        add(c, "c2m.qcow2", "snapshot -c a c2m.qcow2");
        add(c, "over.qcow2", "snapshot -c a over.qcow2");
        add(c, "dup.qcow2", "snapshot -c x dup.qcow2", "snapshot -l dup.qcow2");
        add(c, "grown.qcow2", "snapshot -c a grown.qcow2");
        add(c, "rc1.qcow2", "snapshot -c a rc1.qcow2");
        add(c, "r.raw", "snapshot -c a r.raw");
        add(c, "r.raw", "snapshot -f raw -c a r.raw");
        add(c, "df.qcow2", "snapshot -c a df.qcow2");
        add(c, "base.qcow2", "snapshot -U -c a base.qcow2");
        // apply (by id first, then by name)
        add(c, "base.qcow2", "snapshot -a s1 base.qcow2");
        add(c, "base.qcow2", "snapshot -a s2 base.qcow2");
        add(c, "base.qcow2", "snapshot -a 1 base.qcow2");
        add(c, "base.qcow2", "snapshot -q -a 2 base.qcow2");
        add(c, "base.qcow2", "snapshot -a nope base.qcow2");
        add(c, "v2.qcow2", "snapshot -a s1 v2.qcow2");
        add(c, "ext.qcow2", "snapshot -a s1 ext.qcow2");
        add(c, "c512.qcow2", "snapshot -a s1 c512.qcow2");
        add(c, "c2m.qcow2", "snapshot -a s1 c2m.qcow2");
        add(c, "over.qcow2", "snapshot -a s1 over.qcow2");
        add(c, "dup.qcow2", "snapshot -a 1 dup.qcow2");
        add(c, "dup.qcow2", "snapshot -a x dup.qcow2");
        add(c, "grown.qcow2", "snapshot -a s1 grown.qcow2");
        add(c, "r.raw", "snapshot -a x r.raw");
        add(c, "df.qcow2", "snapshot -a x df.qcow2");
        add(c, "badl1.qcow2", "snapshot -a s1 badl1.qcow2");
        add(c, "bigextra.qcow2", "snapshot -a s1 bigextra.qcow2");
        // delete (by name only)
        add(c, "base.qcow2", "snapshot -d s1 base.qcow2", "snapshot -l base.qcow2");
        add(c, "base.qcow2", "snapshot -d s2 base.qcow2");
        add(c, "base.qcow2", "snapshot -d 1 base.qcow2");
        add(c, "base.qcow2", "snapshot -d nope base.qcow2");
        add(c, "dup.qcow2", "snapshot -d x dup.qcow2", "snapshot -l dup.qcow2");
        add(c, "dup.qcow2", "snapshot -d 1 dup.qcow2", "snapshot -l dup.qcow2");
        add(c, "v2.qcow2", "snapshot -d s1 v2.qcow2");
        add(c, "ext.qcow2", "snapshot -d s1 ext.qcow2");
        add(c, "c512.qcow2", "snapshot -d s1 c512.qcow2");
        add(c, "c2m.qcow2", "snapshot -d s1 c2m.qcow2");
        add(c, "over.qcow2", "snapshot -d s1 over.qcow2");
        add(c, "grown.qcow2", "snapshot -d s1 grown.qcow2");
        add(c, "r.raw", "snapshot -d x r.raw");
        add(c, "badl1.qcow2", "snapshot -d s1 badl1.qcow2");
        add(c, "bigextra.qcow2", "snapshot -d s1 bigextra.qcow2");
        // sequences, and snapshots one tool made used by the other
        add(c, "base.qcow2", "snapshot -c a base.qcow2", "snapshot -c b base.qcow2", "snapshot -a s1 base.qcow2",
                "snapshot -d a base.qcow2", "snapshot -d s2 base.qcow2", "snapshot -a b base.qcow2",
                "snapshot -l base.qcow2");
        add(c, "plain.qcow2", "snapshot -c a plain.qcow2", "snapshot -d a plain.qcow2", "snapshot -l plain.qcow2");
        add(c, "base.qcow2", "snapshot -c new base.qcow2", "Q:snapshot -l base.qcow2",
                "Q:snapshot -a new base.qcow2", "Q:snapshot -d new base.qcow2", "Q:snapshot -d s1 base.qcow2");
        add(c, "ext.qcow2", "snapshot -c new ext.qcow2", "Q:snapshot -a s1 ext.qcow2", "Q:snapshot -a new ext.qcow2");
        add(c, "base.qcow2", "Q:snapshot -c q1 base.qcow2", "snapshot -a q1 base.qcow2", "snapshot -d q1 base.qcow2",
                "Q:snapshot -l base.qcow2");
        // persistent bitmaps: loaded read-write (in_use on disk), stored again when the image closes
        add(c, "bm.qcow2", "snapshot -l bm.qcow2");
        add(c, "bm.qcow2", "snapshot bm.qcow2");
        add(c, "bm.qcow2", "snapshot -c new bm.qcow2", "snapshot -l bm.qcow2", "info bm.qcow2");
        add(c, "bm.qcow2", "snapshot -c s1 bm.qcow2");
        add(c, "bm.qcow2", "snapshot -d s1 bm.qcow2", "snapshot -l bm.qcow2");
        add(c, "bm.qcow2", "snapshot -d nope bm.qcow2");
        add(c, "bm.qcow2", "snapshot -a s1 bm.qcow2");
        add(c, "bm.qcow2", "snapshot -a nope bm.qcow2");
        add(c, "bm.qcow2", "snapshot -c a bm.qcow2", "snapshot -c b bm.qcow2", "snapshot -d a bm.qcow2",
                "snapshot -d s1 bm.qcow2", "snapshot -l bm.qcow2");
        add(c, "bm.qcow2", "snapshot -c a bm.qcow2", "Q:bitmap --remove bm.qcow2 b0", "Q:bitmap --remove bm.qcow2 b1",
                "Q:bitmap --remove bm.qcow2 b2", "snapshot -a s1 bm.qcow2", "snapshot -a a bm.qcow2");
        add(c, "bm.qcow2", "bitmap --add bm.qcow2 b3", "snapshot -c a bm.qcow2", "bitmap --clear bm.qcow2 b0",
                "snapshot -d s1 bm.qcow2");
        add(c, "bm.qcow2", "Q:snapshot -c q1 bm.qcow2", "snapshot -d q1 bm.qcow2", "Q:snapshot -c q2 bm.qcow2");
        add(c, "bmplain.qcow2", "snapshot -c a bmplain.qcow2", "snapshot -c b bmplain.qcow2");
        add(c, "bmplain.qcow2", "snapshot -d a bmplain.qcow2");
        add(c, "bm512.qcow2", "snapshot -c a bm512.qcow2", "snapshot -d s1 bm512.qcow2");
        add(c, "bm512.qcow2", "snapshot -d s1 bm512.qcow2");
        add(c, "bmholes.qcow2", "snapshot -c a bmholes.qcow2");
        add(c, "bmholes.qcow2", "snapshot -c a bmholes.qcow2", "snapshot -c b bmholes.qcow2",
                "snapshot -d a bmholes.qcow2");
        add(c, "bmused.qcow2", "snapshot -c a bmused.qcow2");
        add(c, "bmused.qcow2", "snapshot -d s1 bmused.qcow2");
        add(c, "bmused.qcow2", "snapshot -a s1 bmused.qcow2");
        add(c, "bmused.qcow2", "snapshot -l bmused.qcow2");
        add(c, "bmmixed.qcow2", "snapshot -c a bmmixed.qcow2");
        add(c, "bmmixed.qcow2", "snapshot -d s1 bmmixed.qcow2");
        add(c, "bmmixed.qcow2", "snapshot -a s1 bmmixed.qcow2");
        add(c, "bm.qcow2", "convert -l s1 -O qcow2 bm.qcow2 out.qcow2");
        // command line
        add(c, "base.qcow2", "snapshot -l -c a base.qcow2");
        add(c, "base.qcow2", "snapshot -c a -d b base.qcow2");
        add(c, "base.qcow2", "snapshot -c");
        add(c, "base.qcow2", "snapshot -l base.qcow2 other.qcow2");
        add(c, "base.qcow2", "snapshot -l missing.qcow2");
        add(c, "base.qcow2", "snapshot -f raw -l base.qcow2");
        add(c, "base.qcow2", "snapshot --object secret,id=s0,data=x -l base.qcow2");
        add(c, "base.qcow2", "snapshot --image-opts -c a driver=qcow2,file.filename=" + WORK.resolve("base.qcow2"));
        // convert -l
        add(c, "base.qcow2", "convert -l s1 -O qcow2 base.qcow2 out.qcow2");
        add(c, "base.qcow2", "convert -l snapshot.id=2 -O raw base.qcow2 out.raw");
        add(c, "base.qcow2", "convert -l snapshot.name=s1,snapshot.id=1 -O qcow2 base.qcow2 out.qcow2");
        add(c, "base.qcow2", "convert -l snapshot.name=s1,snapshot.id=2 -O qcow2 base.qcow2 out.qcow2");
        add(c, "base.qcow2", "convert -l 2 -O qcow2 base.qcow2 base.qcow2 out.qcow2");
        add(c, "base.qcow2", "convert -l snapshot.id=2 -O qcow2 base.qcow2 plain.qcow2 out.qcow2");
        add(c, "base.qcow2", "convert -l snapshot.bogus=1 -O qcow2 base.qcow2 out.qcow2");
        add(c, "base.qcow2", "convert -l nope -O qcow2 base.qcow2 out.qcow2");
        add(c, "over.qcow2", "convert -l s1 -O qcow2 over.qcow2 out.qcow2");
        add(c, "ext.qcow2", "convert -l s1 -O qcow2 ext.qcow2 out.qcow2");
        add(c, "c512.qcow2", "convert -l s1 -O raw c512.qcow2 out.raw");
        add(c, "grown.qcow2", "convert -l s1 -O raw grown.qcow2 out.raw");
        add(c, "r.raw", "convert -l s1 -O raw -f raw r.raw out.raw");
        // measure -l
        add(c, "base.qcow2", "measure -l s1 -O qcow2 base.qcow2");
        add(c, "base.qcow2", "measure --output=json -l snapshot.id=2 -O qcow2 base.qcow2");
        add(c, "base.qcow2", "measure -l snapshot.name=s2 -O raw base.qcow2");
        add(c, "base.qcow2", "measure -l snapshot.name=s1,snapshot.id=2 base.qcow2");
        add(c, "base.qcow2", "measure -l nope -O qcow2 base.qcow2");
        add(c, "base.qcow2", "measure -l snapshot.bogus=1 base.qcow2");
        add(c, "grown.qcow2", "measure -l s1 -O qcow2 -o cluster_size=4k grown.qcow2");
        add(c, "bm.qcow2", "measure -l s1 -O qcow2 bm.qcow2");
        add(c, "r.raw", "measure -l s1 -f raw r.raw");
        return c.stream();
    }

    private static void add(List<Arguments> c, String image, String... steps) {
        c.add(Arguments.of(String.join(" ; ", steps).replace(WORK.toString(), "W"), image, steps));
    }

    @BeforeAll
    static void makeTemplate() throws IOException {
        deleteTree(DIR);
        Files.createDirectories(TEMPLATE);
        String base = t("base.qcow2");
        img("create", "-q", "-f", "qcow2", base, "8M");
        io(base, "write -P 0x11 0 1M", "write -z 2M 128k", "write -c -P 0x12 4M 128k");
        img("snapshot", "-c", "s1", base);
        io(base, "write -P 0x13 512k 1M", "discard 4M 64k");
        img("snapshot", "-c", "s2", base);
        io(base, "write -P 0x14 7M 64k", "write -z 0 64k");
        String plain = t("plain.qcow2");
        img("create", "-q", "-f", "qcow2", plain, "4M");
        io(plain, "write -P 0x21 0 256k", "write -z 1M 64k", "write -c -P 0x22 2M 64k");
        String v2 = t("v2.qcow2");
        img("create", "-q", "-f", "qcow2", "-o", "compat=0.10", v2, "4M");
        io(v2, "write -P 0x31 0 1M");
        img("snapshot", "-c", "s1", v2);
        io(v2, "write -P 0x32 256k 256k");
        String ext = t("ext.qcow2");
        img("create", "-q", "-f", "qcow2", "-o", "extended_l2=on", ext, "4M");
        io(ext, "write -P 0x41 0 4k", "write -P 0x42 64k 64k", "write -z 256k 8k");
        img("snapshot", "-c", "s1", ext);
        io(ext, "write -P 0x43 8k 4k", "write -P 0x44 64k 2k");
        String c512 = t("c512.qcow2");
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", c512, "1M");
        io(c512, "write -P 0x51 0 200k");
        img("snapshot", "-c", "s1", c512);
        io(c512, "write -P 0x52 100k 200k");
        String c2m = t("c2m.qcow2");
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=2M", c2m, "8M");
        io(c2m, "write -P 0x61 0 3M");
        img("snapshot", "-c", "s1", c2m);
        io(c2m, "write -P 0x62 1M 1M");
        String back = t("back.raw");
        img("create", "-q", "-f", "raw", back, "4M");
        ioAs("raw", back, "write -P 0x71 0 4M");
        String over = t("over.qcow2");
        img("create", "-q", "-f", "qcow2", "-b", "back.raw", "-F", "raw", over, "4M");
        io(over, "write -P 0x72 1M 128k");
        img("snapshot", "-c", "s1", over);
        io(over, "write -P 0x73 1M 64k", "write -P 0x74 3M 64k");
        String dup = t("dup.qcow2");
        img("create", "-q", "-f", "qcow2", dup, "1M");
        io(dup, "write -P 0x81 0 64k");
        img("snapshot", "-c", "x", dup);
        io(dup, "write -P 0x82 0 64k");
        img("snapshot", "-c", "x", dup);
        io(dup, "write -P 0x83 64k 64k");
        img("snapshot", "-c", "1", dup);
        io(dup, "write -P 0x84 0 128k");
        String grown = t("grown.qcow2");
        img("create", "-q", "-f", "qcow2", grown, "4M");
        io(grown, "write -P 0x91 0 1M");
        img("snapshot", "-c", "s1", grown);
        img("resize", "-q", grown, "8M");
        io(grown, "write -P 0x92 6M 1M");
        String rc1 = t("rc1.qcow2");
        img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=1", rc1, "1M");
        io(rc1, "write -P 0xa1 0 64k");
        // refcount_bits=2: the host cluster two compressed clusters share reaches 3 with a
        // snapshot's first reference and cannot take the second; the data cluster before them
        // in the same L2 table has already gone to 2 (EINVAL part-way through the walk).
        String rc2 = t("rc2.qcow2");
        img("create", "-q", "-f", "qcow2", "-o", "refcount_bits=2", rc2, "1M");
        io(rc2, "write -P 0xa2 0 64k", "write -c -P 0xa3 64k 64k", "write -c -P 0xa4 128k 64k");
        img("create", "-q", "-f", "raw", t("r.raw"), "1M");
        String df = t("df.qcow2");
        img("create", "-q", "-f", "qcow2", "-o", "data_file=" + t("df.data"), df, "1M");
        io(df, "write -P 0xb1 0 64k");
        makeBitmapImages();
        Files.copy(TEMPLATE.resolve("base.qcow2"), TEMPLATE.resolve("bigextra.qcow2"));
        patchSnapshotEntry(TEMPLATE.resolve("bigextra.qcow2"), 36, 2000, 4);
        Files.copy(TEMPLATE.resolve("base.qcow2"), TEMPLATE.resolve("badl1.qcow2"));
        patchSnapshotEntry(TEMPLATE.resolve("badl1.qcow2"), 0, -1, 8);
    }

    /**
     * Images with persistent bitmaps: enabled, disabled and 4k-granularity bitmaps dirtied by
     * qemu-io over data and a snapshot; 512 B clusters (one image with free clusters below its
     * L1 table's size); bitmaps left in_use by a killed qemu-io,
     * alone and beside a consistent one added afterwards.
     */
    private static void makeBitmapImages() throws IOException {
        String bm = t("bm.qcow2");
        img("create", "-q", "-f", "qcow2", bm, "8M");
        io(bm, "write -P 0xc1 0 1M", "write -c -P 0xc2 4M 128k");
        img("snapshot", "-c", "s1", bm);
        img("bitmap", "--add", bm, "b0");
        img("bitmap", "--add", "-g", "128k", "--disable", bm, "b1");
        img("bitmap", "--add", "-g", "4k", bm, "b2");
        io(bm, "write -P 0xc3 512k 1M", "write -z 6M 64k", "write -P 0xc4 7M 4k");
        String plain = t("bmplain.qcow2");
        img("create", "-q", "-f", "qcow2", plain, "4M");
        img("bitmap", "--add", plain, "only");
        io(plain, "write -P 0xd1 64k 192k", "write -P 0xd2 3M 64k");
        String c512 = t("bm512.qcow2");
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", c512, "1M");
        io(c512, "write -P 0xe1 0 100k");
        img("snapshot", "-c", "s1", c512);
        img("bitmap", "--add", "-g", "512", c512, "fine");
        img("bitmap", "--add", c512, "coarse");
        io(c512, "write -P 0xe2 50k 100k", "write -P 0xe3 900k 10k");
        // free clusters below an 8-cluster L1 table: qemu's search for the snapshot's L1 copy
        // skips them, and the bitmaps stored on close continue from there
        String holes = t("bmholes.qcow2");
        img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", holes, "16M");
        img("bitmap", "--add", "-g", "512", holes, "fine");
        img("bitmap", "--add", holes, "coarse");
        io(holes, "write -P 0xe4 50k 100k", "write -P 0xe5 7M 10k");
        Files.copy(Path.of(bm), TEMPLATE.resolve("bmused.qcow2"));
        Tools.qemuIo("-c", "write -P 0xf1 0 4k", "-c", "sigraise 9", t("bmused.qcow2"));
        Files.copy(TEMPLATE.resolve("bmused.qcow2"), TEMPLATE.resolve("bmmixed.qcow2"));
        img("bitmap", "--add", t("bmmixed.qcow2"), "fresh");
        io(t("bmmixed.qcow2"), "write -P 0xf2 2M 64k");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void sameAsQemuImg(String label, String image, String[] steps) throws IOException {
        copyTemplate();
        List<Tools.Result> qemu = new ArrayList<>();
        for (String step : steps) {
            qemu.add(Tools.qemuImg(args(step)));
        }
        deleteTree(QEMU_RESULT);
        Files.move(WORK, QEMU_RESULT);
        copyTemplate();
        for (int i = 0; i < steps.length; i++) {
            String[] args = args(steps[i]);
            Tools.Result ours = steps[i].startsWith("Q:") ? Tools.qemuImg(args) : InProcessCli.strataImg(args);
            Parity.assertSame(masked(qemu.get(i)), masked(steps[i].startsWith("Q:") ? renamedToStrata(ours) : ours));
        }
        try (Stream<Path> files = Files.list(QEMU_RESULT)) {
            for (Path theirs : files.sorted().toList()) {
                Path mine = WORK.resolve(theirs.getFileName());
                assertArrayEquals(SnapshotTableDates.withoutDates(theirs), SnapshotTableDates.withoutDates(mine),
                        "bytes of " + theirs.getFileName());
            }
        }
        sameImage(QEMU_RESULT.resolve(image), WORK.resolve(image), image.endsWith(".raw") ? "raw" : "qcow2");
    }

    /**
     * Snapshot dates as qemu takes them: the wall clock in microseconds (date-nsec a multiple of
     * 1000). Three snapshots: that all three fall on a whole millisecond is a one in 10^9 chance.
     */
    @Test
    void datesHaveQemusMicrosecondResolution() throws IOException {
        copyTemplate();
        String image = WORK.resolve("plain.qcow2").toString();
        for (String name : List.of("a", "b", "c")) {
            Tools.Result r = InProcessCli.strataImg("snapshot", "-c", name, image);
            assertEquals(0, r.exitCode(), r.stderr());
        }
        Matcher m = Pattern.compile("\"date-nsec\": (\\d+)")
                .matcher(Tools.qemuImg("info", "--output=json", image).orFail().stdout());
        List<Long> nsecs = new ArrayList<>();
        while (m.find()) {
            nsecs.add(Long.parseLong(m.group(1)));
        }
        assertEquals(3, nsecs.size(), "snapshots listed");
        assertTrue(nsecs.stream().allMatch(n -> n % 1000 == 0), "whole microseconds: " + nsecs);
        assertTrue(nsecs.stream().anyMatch(n -> n % 1_000_000 != 0), "finer than milliseconds: " + nsecs);
    }

    /** The real tool's view of both results: info, check, map, the active layer and each snapshot. */
    private static void sameImage(Path theirs, Path mine, String fmt) {
        Tools.Result info = Tools.qemuImg("info", "-f", fmt, "--output=json", theirs.toString());
        if (info.exitCode() != 0) {
            return; // damaged on purpose: the bytes were compared
        }
        assertEquals(info(theirs, fmt).replace(QEMU_RESULT.toString(), WORK.toString()), info(mine, fmt), "info");
        if (fmt.equals("qcow2") && !theirs.getFileName().toString().startsWith("df")) {
            assertEquals(Tools.qemuImg("check", "--output=json", theirs.toString()).stdout()
                            .replace(QEMU_RESULT.toString(), WORK.toString()),
                    Tools.qemuImg("check", "--output=json", mine.toString()).stdout(), "check");
        }
        assertEquals(Tools.qemuImg("map", "-f", fmt, "--output=json", theirs.toString()).orFail().stdout(),
                Tools.qemuImg("map", "-f", fmt, "--output=json", mine.toString()).orFail().stdout(), "map");
        Tools.qemuImg("compare", "-f", fmt, "-F", fmt, theirs.toString(), mine.toString()).orFail();
        Matcher ids = Pattern.compile("\"id\": \"([^\"]*)\"").matcher(info.stdout());
        while (ids.find()) {
            String id = ids.group(1);
            Path a = DIR.resolve("snap-qemu.raw");
            Path b = DIR.resolve("snap-ours.raw");
            Tools.Result q = Tools.qemuImg("convert", "-l", "snapshot.id=" + id, "-O", "raw", theirs.toString(),
                    a.toString());
            Tools.Result s = Tools.qemuImg("convert", "-l", "snapshot.id=" + id, "-O", "raw", mine.toString(),
                    b.toString());
            assertEquals(q.exitCode() + q.stderr().replace(QEMU_RESULT.toString(), WORK.toString()),
                    s.exitCode() + s.stderr(), "convert -l snapshot.id=" + id);
            if (q.exitCode() == 0) {
                Tools.qemuImg("compare", "-f", "raw", "-F", "raw", a.toString(), b.toString()).orFail();
            }
        }
    }

    private static String info(Path image, String fmt) {
        return Tools.qemuImg("info", "-f", fmt, "--output=json", image.toString()).orFail().stdout()
                .replaceAll("\"actual-size\": \\d+", "\"actual-size\": N")
                .replaceAll("\"date-(sec|nsec)\": \\d+", "\"date-$1\": N");
    }

    /** Dates in listings differ between twins made at different moments; so does disk usage. */
    private static Tools.Result masked(Tools.Result r) {
        String out = DATE.matcher(r.stdout()).replaceAll("DATE").replaceAll("disk size: .*", "disk size: N")
                .replace(QEMU_RESULT.toString(), WORK.toString());
        return new Tools.Result(r.command(), r.exitCode(), out, r.stderr().replace(QEMU_RESULT.toString(),
                WORK.toString()), r.timedOut());
    }

    /** A real qemu-img result on our side, with strata-img's program name where Parity expects it. */
    private static Tools.Result renamedToStrata(Tools.Result r) {
        return new Tools.Result(r.command(), r.exitCode(), r.stdout(), Parity.asStrata(r.stderr()), r.timedOut());
    }

    private static String[] args(String step) {
        String text = step.startsWith("Q:") ? step.substring(2) : step;
        String[] parts = text.split(" ");
        for (int i = 1; i < parts.length; i++) {
            if ((parts[i].endsWith(".qcow2") || parts[i].endsWith(".raw")) && !parts[i].contains("=")) {
                parts[i] = WORK.resolve(parts[i]).toString();
            }
        }
        return parts;
    }

    /** Adds {@code delta} to a field of the first snapshot table entry (width 4 or 8 bytes). */
    private static void patchSnapshotEntry(Path file, int field, long delta, int width) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(64);
            long entry = f.readLong();
            f.seek(entry + field);
            long value = width == 4 ? f.readInt() & 0xffffffffL : f.readLong();
            f.seek(entry + field);
            if (width == 4) {
                f.writeInt((int) (delta > 100 ? delta : value + delta));
            } else {
                f.writeLong(value + (delta < 0 ? 512 : delta));
            }
        }
    }

    private static String t(String name) {
        return TEMPLATE.resolve(name).toString();
    }

    private static void img(String... args) {
        Tools.qemuImg(args).orFail();
    }

    private static void io(String image, String... commands) {
        ioAs("qcow2", image, commands);
    }

    private static void ioAs(String format, String image, String... commands) {
        List<String> a = new ArrayList<>(List.of("-f", format));
        for (String command : commands) {
            a.add("-c");
            a.add(command);
        }
        a.add(image);
        Tools.qemuIo(a.toArray(new String[0])).orFail();
    }

    private static void copyTemplate() throws IOException {
        deleteTree(WORK);
        Files.createDirectories(WORK);
        try (Stream<Path> files = Files.list(TEMPLATE)) {
            for (Path f : files.toList()) {
                Files.copy(f, WORK.resolve(f.getFileName()));
            }
        }
    }
}
