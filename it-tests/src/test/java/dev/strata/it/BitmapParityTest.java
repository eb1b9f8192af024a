package dev.strata.it;

import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code strata-img bitmap} against real {@code qemu-img bitmap} 7.2 on twins made by real
 * qemu-img and qemu-io (bitmaps added, guest writes that dirtied them, a bitmap left in_use by a
 * killed qemu-io): every step compares stdout, stderr (node names "#block1NN" masked, they are
 * random in qemu) and exit code, and the twins must stay byte-identical; at the end every bitmap
 * is read from both through real qemu-nbd and nbdinfo --map=qemu:dirty-bitmap:NAME. Writes
 * through the engine must dirty enabled bitmaps as qemu-io's same writes do.
 */
class BitmapParityTest {
    private static final Path DIR = Tools.CWD.resolve("target/bitmap-parity");
    private static final Path QEMU = DIR.resolve("qemu.qcow2");
    private static final Path OURS = DIR.resolve("ours.qcow2");
    private static final Path SOURCE = DIR.resolve("source.qcow2");

    @BeforeEach
    void tools() {
        Tools.requireTool("qemu-img");
        Tools.requireTool("qemu-io");
        Tools.requireTool("qemu-nbd");
        Tools.requireTool("nbdinfo");
    }

    static Stream<Arguments> sequences() {
        return Stream.of(
                Arguments.of("add-remove", List.of(
                        List.of("--add", "b3"), List.of("--add", "-g", "512", "--disable", "b4"),
                        List.of("--remove", "b3"), List.of("--add", "b3"))),
                Arguments.of("merge-clear", List.of(
                        List.of("--add", "-g", "1M", "m"), List.of("--merge", "b1", "--merge", "b2", "m"),
                        List.of("--clear", "b1"), List.of("--merge", "m", "b1"), List.of("--disable", "b1"),
                        List.of("--enable", "b2", "--disable", "b2", "--enable"))),
                Arguments.of("cross-image-merge", List.of(
                        List.of("--add", "x"), List.of("--merge", "b1", "-b", SOURCE.toString(), "x"),
                        List.of("--merge", "b2", "-b", SOURCE.toString(), "-F", "qcow2", "--clear", "x"),
                        List.of("--merge", "nope", "-b", SOURCE.toString(), "x"))),
                Arguments.of("errors", List.of(
                        List.of("--add", "b1"), List.of("--remove", "nope"), List.of("--clear", "nope"),
                        List.of("--enable", "nope"), List.of("--merge", "nope", "b1"), List.of("--merge", "b1", "nope"),
                        List.of("--add", "-g", "1000", "g"), List.of("--add", "-g", "256", "g"),
                        List.of("--add", "-g", "4G", "g"), List.of("--add", "-g", "x", "g"),
                        List.of("--add", ""), List.of("--add", "--disabled", "g"), List.of("-g", "512", "b1"),
                        List.of("--add", "-F", "raw", "g"), List.of("--add", "-b", "x", "g"),
                        List.of("--add", "one", "two"), List.of("--add", "b5", "--remove", "b1", "--clear", "b1"),
                        List.of("--add", "--image-opts", "-f", "qcow2", "g"))),
                Arguments.of("in-use", List.of(
                        List.of("--clear", "used"), List.of("--merge", "used", "b1"), List.of("--enable", "used"),
                        List.of("--merge", "b1", "used"), List.of("--add", "used"), List.of("--remove", "used"),
                        List.of("--add", "used"))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("sequences")
    void sameAsQemu(String name, List<List<String>> steps) throws IOException {
        makeTwins(name.equals("in-use"));
        for (List<String> step : steps) {
            compareStep(step, "-f", "qcow2");
        }
        compareBitmaps();
        Tools.qemuImg("check", OURS.toString()).orFail();
    }

    @Test
    void formatsWithoutBitmapsFailAsQemuDoes() throws IOException {
        Files.createDirectories(DIR);
        for (String[] image : new String[][] {{"raw", ""}, {"qcow2", "compat=0.10"}}) {
            Files.deleteIfExists(QEMU);
            List<String> create = new ArrayList<>(List.of("create", "-q", "-f", image[0]));
            if (!image[1].isEmpty()) {
                create.addAll(List.of("-o", image[1]));
            }
            create.addAll(List.of(QEMU.toString(), "1M"));
            Tools.qemuImg(create.toArray(new String[0])).orFail();
            Files.copy(QEMU, OURS, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            compareStep(List.of("--add", "b"));
            compareStep(List.of("--add", "b"), "-f", image[0]);
            compareStep(List.of("--remove", "b"), "-f", image[0]);
            compareStep(List.of("--merge", "b", "c"), "-f", image[0]);
        }
    }

    /** Writes through the engine dirty enabled bitmaps exactly as qemu-io's same writes. */
    @Test
    void engineWritesDirtyEnabledBitmaps() throws IOException {
        makeTwins(false);
        Tools.qemuImg("bitmap", "--add", "-g", "512", QEMU.toString(), "fine").orFail();
        Tools.qemuImg("bitmap", "--add", "-g", "512", OURS.toString(), "fine").orFail();
        Tools.qemuIo("-f", "qcow2", "-c", "write -P 0x11 1000 5000", "-c", "write -z 8M 192k", "-c",
                "discard 20M 1M", "-c", "write -P 0x12 30M 64k", QEMU.toString()).orFail();
        try (Image image = ChainOpener.standard().open(OURS.toString(), "qcow2", new OpenOptions(false, false, false))) {
            ByteBuffer a = ByteBuffer.allocate(5000);
            Arrays.fill(a.array(), (byte) 0x11);
            image.write(a, 1000);
            image.writeZeroes(8L << 20, 192 << 10, false);
            image.discard(20L << 20, 1 << 20);
            ByteBuffer b = ByteBuffer.allocate(64 << 10);
            Arrays.fill(b.array(), (byte) 0x12);
            image.write(b, 30L << 20);
        }
        compareBitmaps();
        Tools.qemuImg("check", OURS.toString()).orFail();
        assertEquals("Images are identical.\n",
                Tools.qemuImg("compare", QEMU.toString(), OURS.toString()).orFail().stdout());
    }

    static Stream<Arguments> converts() {
        return Stream.of(
                Arguments.of(false, List.of("--bitmaps", "-O", "qcow2")),
                Arguments.of(false, List.of("--bitmaps", "-O", "qcow2", "-o", "cluster_size=4k")),
                Arguments.of(false, List.of("--bitmaps", "-O", "raw")),
                Arguments.of(true, List.of("--bitmaps", "-O", "qcow2")),
                Arguments.of(true, List.of("--bitmaps", "--skip-broken-bitmaps", "-O", "qcow2")));
    }

    /** convert --bitmaps (and --skip-broken-bitmaps) vs qemu-img convert: output, target bytes, bitmaps. */
    @ParameterizedTest(name = "inUse={0} {1}")
    @MethodSource("converts")
    void convertCopiesBitmapsAsQemu(boolean inUse, List<String> options) throws IOException {
        makeTwins(inUse);
        Path qemuOut = DIR.resolve("qemu-out.img");
        Path oursOut = DIR.resolve("ours-out.img");
        Files.deleteIfExists(qemuOut);
        Files.deleteIfExists(oursOut);
        List<String> q = new ArrayList<>(List.of("convert"));
        q.addAll(options);
        List<String> o = new ArrayList<>(q);
        q.addAll(List.of(QEMU.toString(), qemuOut.toString()));
        o.addAll(List.of(QEMU.toString(), oursOut.toString()));
        Tools.Result qemu = Tools.qemuImg(q.toArray(new String[0]));
        Tools.Result ours = InProcessCli.strataImg(o.toArray(new String[0]));
        assertEquals(qemu.exitCode(), ours.exitCode(), ours.stderr());
        assertEquals(qemu.stdout(), ours.stdout());
        assertEquals(Parity.asStrata(qemu.stderr()).replace(qemuOut.toString(), "OUT"),
                ours.stderr().replace(oursOut.toString(), "OUT"));
        assertEquals(Files.exists(qemuOut), Files.exists(oursOut));
        if (Files.exists(qemuOut)) {
            assertEquals(-1L, Files.mismatch(qemuOut, oursOut), "target bytes");
            Parity.assertSameAsQemu("measure", "-O", "qcow2", oursOut.toString());
        }
    }

    private static void compareStep(List<String> step, String... formatArgs) throws IOException {
        List<String> q = new ArrayList<>(List.of("bitmap"));
        q.addAll(Arrays.asList(formatArgs));
        q.addAll(step.subList(0, step.size() - 1));
        List<String> o = new ArrayList<>(q);
        q.add(QEMU.toString());
        o.add(OURS.toString());
        q.add(step.get(step.size() - 1));
        o.add(step.get(step.size() - 1));
        Tools.Result qemu = Tools.qemuImg(q.toArray(new String[0]));
        Tools.Result ours = InProcessCli.strataImg(o.toArray(new String[0]));
        String cmd = String.join(" ", step);
        assertEquals(qemu.exitCode(), ours.exitCode(), () -> cmd + "\n" + qemu.stderr() + ours.stderr());
        assertEquals(qemu.stdout(), ours.stdout(), cmd);
        assertEquals(mask(Parity.asStrata(qemu.stderr())).replace(QEMU.toString(), "IMG"),
                mask(ours.stderr()).replace(OURS.toString(), "IMG"), cmd);
        assertEquals(-1L, Files.mismatch(QEMU, OURS), () -> "image bytes after " + cmd);
    }

    private static String mask(String stderr) {
        return stderr.replaceAll("#block1\\d\\d", "#block1NN");
    }

    /** Every bitmap of the qemu twin, read through qemu-nbd from both twins. */
    private static void compareBitmaps() {
        String info = Tools.qemuImg("info", "--output=json", QEMU.toString()).orFail().stdout();
        assertEquals(info.replaceAll("\"actual-size\": \\d+", "").replace(QEMU.toString(), "IMG"),
                Tools.qemuImg("info", "--output=json", OURS.toString()).orFail().stdout()
                        .replaceAll("\"actual-size\": \\d+", "").replace(OURS.toString(), "IMG"));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"name\": \"([^\"]*)\"").matcher(info);
        while (m.find()) {
            String name = m.group(1);
            if (info.contains("\"in-use\"")) {
                continue; // qemu-nbd refuses to export an inconsistent bitmap
            }
            assertEquals(bitmapMap(QEMU, name), bitmapMap(OURS, name), "bitmap " + name);
        }
    }

    private static String bitmapMap(Path image, String name) {
        return Tools.run("nbdinfo", "--map=qemu:dirty-bitmap:" + name, "--", "[", "qemu-nbd", "-r", "-f", "qcow2",
                "-B", name, image.toString(), "]").orFail().stdout();
    }

    /** Twins with bitmaps b1 (64k, enabled) and b2 (4k, disabled), dirtied by qemu-io writes. */
    private static void makeTwins(boolean inUse) throws IOException {
        Files.createDirectories(DIR);
        for (Path p : List.of(QEMU, OURS, SOURCE)) {
            Files.deleteIfExists(p);
        }
        String q = QEMU.toString();
        Tools.qemuImg("create", "-q", "-f", "qcow2", q, "64M").orFail();
        Tools.qemuImg("bitmap", "--add", q, "b1").orFail();
        Tools.qemuIo("-f", "qcow2", "-c", "write -P 0x61 0 64k", "-c", "write -P 0x62 5M 300k", q).orFail();
        Tools.qemuImg("bitmap", "--add", "-g", "4k", q, "b2").orFail();
        Tools.qemuIo("-f", "qcow2", "-c", "write -P 0x63 40M 1M", "-c", "write -z 50M 64k", q).orFail();
        Tools.qemuImg("bitmap", "--disable", q, "b2").orFail();
        Tools.qemuIo("-f", "qcow2", "-c", "write -P 0x64 60M 8k", q).orFail();
        Files.copy(QEMU, SOURCE);
        Tools.qemuIo("-f", "qcow2", "-c", "write -P 0x65 1M 4k", SOURCE.toString()).orFail();
        if (inUse) {
            Tools.qemuImg("bitmap", "--add", q, "used").orFail();
            Tools.qemuIo("-f", "qcow2", "-c", "write -P 0x66 2M 4k", "-c", "sigraise 9", q);
        }
        Files.copy(QEMU, OURS);
    }
}
