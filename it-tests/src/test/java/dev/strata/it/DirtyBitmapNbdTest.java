package dev.strata.it;

import dev.strata.daemon.Daemon;
import dev.strata.daemon.DaemonSettings;
import dev.strata.daemon.export.ExportSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code qemu:dirty-bitmap:NAME} contexts (stratad {@code -B}) against the real qemu-nbd 7.2 with
 * the same {@code -B} lists on the same images. Images are made at test time by real qemu-img
 * ({@code bitmap --add}) and qemu-io writes, one bitmap by strata-img's own {@code bitmap --add};
 * they hold enabled, disabled, 64k/128k/512 B bitmaps, a bitmap in a backing file, an image whose
 * size is not a multiple of the granularity, and an image left with in_use bitmaps by a killed
 * qemu-io. Compared byte for byte: the contexts {@code nbdinfo} lists, {@code --map} of every context,
 * {@code qemu-img map} through {@code x-dirty-bitmap}, and a raw client's view (nbd_meta_probe.py:
 * LIST/SET replies with their context ids, block-status chunks in reply order with REQ_ONE,
 * unaligned offsets and lengths, ranges past the end). Bad {@code -B} arguments: same message
 * (program name substituted) and exit code as qemu-nbd.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class DirtyBitmapNbdTest {
    @TempDir
    static Path dir;
    static Daemon daemon;
    static Path strataSocket;
    static Path probe;
    static final List<Process> QEMU_NBD = new ArrayList<>();
    /** Export name -> qemu-nbd's socket. */
    static final Map<String, Path> QEMU_SOCKETS = new LinkedHashMap<>();

    /** Export name, file, then the -B names in command-line order. */
    static final String[][] EXPORTS = {
        {"a", "a.qcow2", "b3", "b0", "b1", "b2", "s0"},
        {"dup", "a.qcow2", "b0", "b1", "b0"},
        {"odd", "odd.qcow2", "g"},
        {"top", "top.qcow2", "t0", "b0"},
    };

    @BeforeAll
    static void start() throws Exception {
        Tools.requireTool("qemu-img");
        Tools.requireTool("qemu-io");
        Tools.requireTool("qemu-nbd");
        Tools.requireTool("nbdinfo");
        Tools.requireTool("python3");
        Tools.run(dir, InProcessCli.TIMEOUT, "sh", "-c", String.join(" && ",
                "qemu-img create -q -f qcow2 a.qcow2 8M",
                "qemu-img bitmap --add a.qcow2 b0",
                "qemu-img bitmap --add -g 128k a.qcow2 b1",
                "qemu-io -c 'write 100k 10k' -c 'write 3M 1M' a.qcow2 >/dev/null",
                "qemu-img bitmap --add --disable a.qcow2 b2",
                "qemu-img bitmap --add a.qcow2 b3")).orFail();
        InProcessCli.strataImg("bitmap", "--add", "-g", "4096", dir.resolve("a.qcow2").toString(), "s0").orFail();
        Tools.run(dir, InProcessCli.TIMEOUT, "sh", "-c", String.join(" && ",
                "qemu-io -c 'write 7M 4k' -c 'write 5000k 1k' -c 'write -z 6M 8k' a.qcow2 >/dev/null",
                "qemu-img create -q -f qcow2 odd.qcow2 1000000",
                "qemu-img bitmap --add -g 512 odd.qcow2 g",
                "qemu-io -c 'write 999000 1000' -c 'write 1000 1' odd.qcow2 >/dev/null",
                "qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 top.qcow2",
                "qemu-img bitmap --add top.qcow2 t0",
                "qemu-io -c 'write 5M 64k' top.qcow2 >/dev/null",
                "cp a.qcow2 used.qcow2",
                "qemu-img bitmap --add used.qcow2 used",
                "qemu-img create -q -f raw r.raw 1M")).orFail();
        // A writer killed with the image open leaves every bitmap in_use (inconsistent).
        Tools.run(dir, InProcessCli.TIMEOUT, "qemu-io", "-f", "qcow2", "-c", "write 2M 4k", "-c", "sigraise 9",
                "used.qcow2");
        probe = dir.resolve("nbd_meta_probe.py");
        try (InputStream in = DirtyBitmapNbdTest.class.getResourceAsStream("nbd_meta_probe.py")) {
            Files.copy(in, probe);
        }
        List<ExportSpec> specs = new ArrayList<>();
        for (String[] e : EXPORTS) {
            List<String> bitmaps = Arrays.asList(e).subList(2, e.length);
            specs.add(new ExportSpec(e[0], dir.resolve(e[1]).toString(), "qcow2", "", e[0].equals("a"), bitmaps));
            QEMU_SOCKETS.put(e[0], startQemuNbd(e[0], e[1], bitmaps));
        }
        strataSocket = dir.resolve("stratad.sock");
        daemon = Daemon.start(new DaemonSettings(specs, false, null, 0, strataSocket, 16, true, null, false, null,
                Duration.ofSeconds(5)));
    }

    /** qemu-nbd -r -t serving one export on a socket of its own, with -A for export "a". */
    private static Path startQemuNbd(String name, String file, List<String> bitmaps) throws Exception {
        Path sock = dir.resolve("qemu-" + name + ".sock");
        List<String> cmd = new ArrayList<>(List.of("qemu-nbd", "-r", "-t", "-e", "8", "-f", "qcow2", "-x", name,
                "-k", sock.toString()));
        if (name.equals("a")) {
            cmd.add("-A");
        }
        for (String b : bitmaps) {
            cmd.add("-B");
            cmd.add(b);
        }
        cmd.add(file);
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        QEMU_NBD.add(p);
        for (int i = 0; i < 2000 && !Files.exists(sock); i++) {
            if (!p.isAlive()) {
                throw new AssertionError("qemu-nbd exited with " + p.exitValue() + ": " + cmd);
            }
            Thread.sleep(10);
        }
        assertTrue(Files.exists(sock), "qemu-nbd did not start: " + cmd);
        return sock;
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (daemon != null) {
            daemon.close();
        }
        for (Process p : QEMU_NBD) {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

    private static String url(Path socket, String export) {
        return "nbd+unix:///" + export + "?socket=" + socket;
    }

    /** Runs {@code nbdinfo ARGS URL} against both servers and asserts the same output. */
    private static void assertNbdinfoSame(String export, String... args) {
        Path qs = QEMU_SOCKETS.get(export);
        Tools.Result qemu = Tools.run(dir, Tools.DEFAULT_TIMEOUT, concat("nbdinfo", args, url(qs, export)));
        Tools.Result ours = Tools.run(dir, Tools.DEFAULT_TIMEOUT, concat("nbdinfo", args, url(strataSocket, export)));
        assertEquals(qemu.stdout().replace(qs.toString(), "SOCKET"), ours.stdout().replace(strataSocket.toString(), "SOCKET"),
                () -> "nbdinfo " + String.join(" ", args) + " " + export + "\nstderr: " + ours.stderr());
        assertEquals(qemu.exitCode(), ours.exitCode());
    }

    private static String[] concat(String first, String[] middle, String last) {
        List<String> all = new ArrayList<>();
        all.add(first);
        all.addAll(Arrays.asList(middle));
        all.add(last);
        return all.toArray(String[]::new);
    }

    @ParameterizedTest
    @ValueSource(strings = {"a", "dup", "odd", "top"})
    void contextsAndMapMatchQemuNbd(String export) {
        String[] listed = new String[2];
        int i = 0;
        for (Path sock : List.of(QEMU_SOCKETS.get(export), strataSocket)) {
            listed[i++] = sizeAndContexts(Tools.run(dir, Tools.DEFAULT_TIMEOUT, "nbdinfo", url(sock, export))
                    .orFail().stdout());
        }
        assertTrue(listed[0].contains("qemu:dirty-bitmap:"), listed[0]);
        assertEquals(listed[0], listed[1], export);
        assertNbdinfoSame(export, "--map");
    }

    /**
     * The export-size line and the contexts block of one export's {@code nbdinfo} output. The
     * rest is compared elsewhere (stratad advertises no FUA on read-only exports, qemu-nbd does).
     */
    private static String sizeAndContexts(String nbdinfo) {
        StringBuilder b = new StringBuilder();
        boolean inContexts = false;
        for (String line : nbdinfo.split("\n")) {
            if (line.startsWith("\texport-size:")) {
                b.append(line).append('\n');
            }
            if (line.equals("\tcontexts:")) {
                inContexts = true;
            } else if (inContexts && !line.startsWith("\t\t")) {
                inContexts = false;
            }
            if (inContexts) {
                b.append(line).append('\n');
            }
        }
        return b.toString();
    }

    @ParameterizedTest
    @ValueSource(strings = {"a:b0", "a:b1", "a:b2", "a:b3", "a:s0", "dup:b0", "dup:b1", "odd:g", "top:t0", "top:b0",
        "a:nope"})
    void mapOfEachBitmapMatchesQemuNbd(String pair) {
        String[] p = pair.split(":");
        Tools.Result qemu = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "nbdinfo", "--map=qemu:dirty-bitmap:" + p[1],
                url(QEMU_SOCKETS.get(p[0]), p[0]));
        assertEquals(p[1].equals("nope") ? 1 : 0, qemu.exitCode(), qemu.stderr());
        assertNbdinfoSame(p[0], "--map=qemu:dirty-bitmap:" + p[1]);
        assertNbdinfoSame(p[0], "--map=qemu:dirty-bitmap:" + p[1], "--totals");
    }

    @ParameterizedTest
    @ValueSource(strings = {"a:b0", "a:b1", "a:s0", "odd:g", "top:t0", "top:b0", "a:allocation-depth"})
    void qemuImgMapThroughXDirtyBitmapMatches(String pair) {
        String[] p = pair.split(":");
        String context = p[1].equals("allocation-depth") ? "qemu:allocation-depth" : "qemu:dirty-bitmap:" + p[1];
        String[] out = new String[2];
        int i = 0;
        for (Path sock : List.of(QEMU_SOCKETS.get(p[0]), strataSocket)) {
            out[i++] = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "qemu-img", "map", "--output=json", "--image-opts",
                    "driver=nbd,server.type=unix,server.path=" + sock + ",export=" + p[0] + ",x-dirty-bitmap=" + context)
                    .orFail().stdout();
        }
        assertEquals(out[0], out[1], pair);
    }

    /** A raw client's view: LIST and SET replies with ids, then each block-status chunk as sent. */
    @ParameterizedTest
    @ValueSource(strings = {
        // export | LIST query groups (';' between groups, ',' inside) | SET queries | offset+length+flags ...
        "a|;qemu:;qemu:dirty-bitmap:;base:,qemu:dirty-bitmap:b1;qemu:dirty-bitmap:nope;qemu:dirty-bitmap:b0,qemu:allocation-depth"
            + "|qemu:dirty-bitmap:b1,base:allocation,qemu:dirty-bitmap:s0,qemu:dirty-bitmap:b1,qemu:allocation-depth"
            + "|0+8388608+0 0+8388608+8 70000+100+0 100000+3100000+8 5119000+3000+0 8000000+388608+0"
            + " 8000000+388609+0 8388608+1+0 0+0+0 3145729+1048575+0",
        "a|qemu:dirty-bitmap:b3|qemu:dirty-bitmap:b3|0+8388608+0 7340033+65535+8 7405567+2+0",
        "a||qemu:dirty-bitmap:b2,qemu:dirty-bitmap:b0|0+8388608+0 1+1+8",
        "a||base:|0+4096+0",
        "dup|;qemu:dirty-bitmap:b0|qemu:dirty-bitmap:b0,qemu:dirty-bitmap:b1|0+8388608+0 65536+65536+8",
        "odd|qemu:|qemu:dirty-bitmap:g|0+1000448+0 998911+1537+0 999424+512+8 1000+1+0 1000447+1+0 1000448+1+0",
        "top|;qemu:dirty-bitmap:|qemu:dirty-bitmap:t0,qemu:dirty-bitmap:b0,base:allocation|0+8388608+0 5242880+1+8",
    })
    void rawRepliesMatchQemuNbd(String spec) {
        String[] s = spec.split("\\|", -1);
        StringBuilder plan = new StringBuilder("{\"export\": \"" + s[0] + "\", \"list\": [");
        if (!s[1].isEmpty()) {
            String[] groups = s[1].split(";", -1);
            for (int g = 0; g < groups.length; g++) {
                plan.append(g > 0 ? ", " : "").append(jsonList(groups[g]));
            }
        }
        plan.append("], \"set\": ").append(jsonList(s[2])).append(", \"status\": [");
        String[] reqs = s[3].split(" ");
        for (int r = 0; r < reqs.length; r++) {
            plan.append(r > 0 ? ", " : "").append("[").append(reqs[r].replace('+', ',')).append("]");
        }
        plan.append("]}");
        Tools.Result qemu = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "python3", probe.toString(),
                QEMU_SOCKETS.get(s[0]).toString(), plan.toString()).orFail();
        Tools.Result ours = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "python3", probe.toString(),
                strataSocket.toString(), plan.toString());
        assertTrue(qemu.stdout().contains("block-status"), qemu.stdout());
        assertEquals(qemu.stdout(), ours.stdout(), () -> plan + "\nstderr: " + ours.stderr());
        assertEquals(0, ours.exitCode(), ours.stderr());
    }

    private static String jsonList(String commaSeparated) {
        if (commaSeparated.isEmpty()) {
            return "[]";
        }
        StringBuilder b = new StringBuilder("[");
        String[] items = commaSeparated.split(",");
        for (int i = 0; i < items.length; i++) {
            b.append(i > 0 ? ", " : "").append('"').append(items[i]).append('"');
        }
        return b.append(']').toString();
    }

    /** Bad -B arguments: stratad (as a process) says what qemu-nbd says, with the same exit code. */
    @ParameterizedTest
    @ValueSource(strings = {"-B nope a.qcow2", "-B b0 -B nope a.qcow2", "-B used used.qcow2", "-B b0 used.qcow2",
        "-f raw -B b0 r.raw", "-B t0 a.qcow2"})
    void badBitmapArgumentsFailAsQemuNbd(String args) throws IOException {
        List<String> a = Arrays.asList(args.split(" "));
        List<String> qemuCmd = new ArrayList<>(List.of("qemu-nbd", "-r", "-k", dir.resolve("bad-q.sock").toString()));
        qemuCmd.addAll(a);
        Tools.Result qemu = Tools.run(dir, Tools.DEFAULT_TIMEOUT, qemuCmd.toArray(String[]::new));
        assertTrue(qemu.exitCode() != 0, "qemu-nbd accepted " + args);
        List<String> ours = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), "dev.strata.daemon.Stratad",
                "-r", "-k", dir.resolve("bad-s.sock").toString()));
        ours.addAll(a);
        Tools.Result strata = Tools.run(dir, Tools.DEFAULT_TIMEOUT, ours.toArray(String[]::new));
        assertEquals(qemu.stderr().replaceAll("(?m)^qemu-nbd: ", "stratad: "), strata.stderr(), args);
        assertEquals(qemu.exitCode(), strata.exitCode(), args);
    }

    @Test
    void bitmapInTheBackingFileIsFoundThroughTheOverlay() {
        Tools.Result m = Tools.run(dir, Tools.DEFAULT_TIMEOUT, "nbdinfo", "--map=qemu:dirty-bitmap:b0",
                url(strataSocket, "top")).orFail();
        assertTrue(m.stdout().contains("dirty"), m.stdout());
    }
}
