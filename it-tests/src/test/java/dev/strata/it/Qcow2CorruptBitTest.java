package dev.strata.it;

/*
 * Design note: qemu's fatal corruption path (qcow2_signal_corruption with the image writable).
 * A qcow2 image made by real qemu-img gets one L2 entry patched (Qcow2Patcher) so that it points
 * into metadata or is unaligned. Twins of it are written: one by real qemu-io, one through the
 * engine. Both must fail the write with EIO, print/report the same "Marking image as corrupt"
 * line, refuse a second write, and end with the corrupt bit set (qemu-img info JSON identical
 * apart from names and actual-size). Opened read-only, both must report qemu's non-fatal wording
 * (or nothing, where qemu says nothing) and leave the bit clear.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.CorruptionEvent;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Qcow2CorruptBitTest {
    private static final Path DIR = Tools.CWD.resolve("target/qcow2-corrupt-bit");

    @BeforeAll
    static void scratch() throws IOException {
        Tools.requireTool("qemu-img");
        Tools.requireTool("qemu-io");
        Corpus.deleteTree(DIR);
        Files.createDirectories(DIR);
    }

    @AfterAll
    static void cleanUp() {
        Corpus.deleteTree(DIR);
    }

    /** Where the first L2 entry (guest cluster 0) is made to point. */
    @ParameterizedTest
    @ValueSource(strings = {"l1-table", "refcount-table", "refcount-block", "unaligned"})
    void writeThroughBadEntryMarksImageCorrupt(String target) throws Exception {
        Path img = DIR.resolve(target + ".qcow2");
        Tools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "64M").orFail();
        Tools.qemuIo("-c", "write -P 9 0 64k", "-c", "write -P 8 1M 64k", img.toString()).orFail();
        try (Qcow2Patcher p = new Qcow2Patcher(img)) {
            long l2 = p.l2TableOffset(0);
            long host = switch (target) {
                case "l1-table" -> p.u64(Qcow2Patcher.L1_TABLE_OFFSET);
                case "refcount-table" -> p.u64(Qcow2Patcher.REFCOUNT_TABLE_OFFSET);
                case "refcount-block" -> p.firstRefcountBlock();
                default -> p.u64(Qcow2Patcher.L1_TABLE_OFFSET) + 0x200;
            };
            // COPIED flag: the cluster counts as this image's own, so writes go in place.
            p.putU64(l2, (1L << 63) | host);
        }
        Path qemuTwin = DIR.resolve(target + ".qemu.qcow2");
        Path ourTwin = DIR.resolve(target + ".ours.qcow2");
        Path qemuRo = DIR.resolve(target + ".qemu-ro.qcow2");
        Path ourRo = DIR.resolve(target + ".ours-ro.qcow2");
        for (Path twin : List.of(qemuTwin, ourTwin, qemuRo, ourRo)) {
            Files.copy(img, twin);
        }

        // Writable: qemu-io writes twice; the first fails with EIO, the second is refused.
        Tools.Result qemu = Tools.qemuIo("-c", "write -P 1 0 64k", "-c", "write -P 1 0 64k", qemuTwin.toString());
        List<String> qemuEvents = eventLines(qemu.stderr());
        assertEquals(1, qemuEvents.size(), () -> "qemu-io: " + qemu);
        assertTrue(qemu.stdout().startsWith("write failed: Input/output error\nwrite failed:"), qemu::toString);

        List<CorruptionEvent> events = new CopyOnWriteArrayList<>();
        try (Image image = ChainOpener.standard().open(ourTwin.toString(), "qcow2",
                new OpenOptions(false, false, false).withCorruptionListener(events::add))) {
            StrataException first = assertThrows(StrataException.class, () -> write(image));
            assertEquals("EIO", first.kind().name(), () -> "first write: " + first.getMessage());
            assertThrows(StrataException.class, () -> write(image), "second write after the image was marked corrupt");
        }
        assertEquals(qemuEvents, events.stream().map(CorruptionEvent::message).toList(), "corruption event");
        assertTrue(events.get(0).fatal());
        String qemuInfo = info(qemuTwin);
        assertTrue(qemuInfo.contains("\"corrupt\": true"), qemuInfo);
        assertEquals(qemuInfo, info(ourTwin), "qemu-img info of the twins");
        assertEquals(check(qemuTwin), check(ourTwin), "qemu-img check of the twins");

        // Read-only: a read of the same cluster reports (non-fatal) what qemu reports, no bit.
        Tools.Result qemuRead = Tools.qemuIo("-r", "-c", "read 0 64k", qemuRo.toString());
        List<String> qemuRoEvents = eventLines(qemuRead.stderr());
        boolean qemuReadFailed = qemuRead.stdout().startsWith("read failed: Input/output error");
        List<CorruptionEvent> roEvents = new CopyOnWriteArrayList<>();
        try (Image image = ChainOpener.standard().open(ourRo.toString(), "qcow2",
                new OpenOptions(true, false, false).withCorruptionListener(roEvents::add))) {
            ByteBuffer got = ByteBuffer.allocate(65536);
            if (qemuReadFailed) {
                StrataException e = assertThrows(StrataException.class, () -> image.read(got, 0));
                assertEquals("EIO", e.kind().name());
            } else {
                image.read(got, 0);
                Path raw = DIR.resolve(target + ".raw");
                Tools.qemuImg("convert", "-O", "raw", qemuRo.toString(), raw.toString()).orFail();
                assertArrayEquals(Arrays.copyOf(Files.readAllBytes(raw), 65536), got.array(), "bytes read");
            }
        }
        assertEquals(qemuRoEvents, roEvents.stream().map(CorruptionEvent::message).toList(), "read-only event");
        assertTrue(roEvents.stream().noneMatch(CorruptionEvent::fatal));
        String roInfo = info(ourRo);
        assertTrue(roInfo.contains("\"corrupt\": false"), roInfo);
        assertEquals(info(qemuRo), roInfo, "qemu-img info after read-only use");
    }

    /**
     * Where {@code qemu-img map} stops querying block status: the human format fails at the
     * first entry it cannot place in a file (a compressed cluster), having read one block status
     * past it and no further. An L2 table pointer corrupted beyond that must go unnoticed (no
     * corruption event, only the one error line); the JSON format reads on and meets it.
     * A compressed cluster at {@code compressedAt}, data at 1 GiB (L1 entry 2 with 64 KiB
     * clusters), and that L1 entry then pointed at an unaligned offset.
     */
    @ParameterizedTest(name = "map stops at a compressed cluster at {0}")
    @ValueSource(strings = {"0", "64k", "511M"})
    void humanMapStopsWhereQemuStops(String compressedAt) throws Exception {
        Path img = DIR.resolve("stop-" + compressedAt + ".qcow2");
        Tools.qemuImg("create", "-q", "-f", "qcow2", img.toString(), "2G").orFail();
        Tools.qemuIo("-c", "write -P 3 256k 64k", "-c", "write -c -P 5 " + compressedAt + " 64k",
                "-c", "write -P 7 1G 64k", img.toString()).orFail();
        try (Qcow2Patcher p = new Qcow2Patcher(img)) {
            p.putU64(p.l1EntryOffset(2), (1L << 63) | (p.l2TableOffset(2) + 0x200));
        }
        Parity.assertSameAsQemu("map", img.toString());
        Parity.assertSameAsQemu("map", "--output=json", img.toString());
    }

    private static void write(Image image) {
        byte[] b = new byte[65536];
        Arrays.fill(b, (byte) 1);
        image.write(ByteBuffer.wrap(b), 0);
    }

    /** qemu's corruption lines ("qcow2: ..."), in order. */
    private static List<String> eventLines(String stderr) {
        return stderr.lines().filter(l -> l.startsWith("qcow2: ")).toList();
    }

    /** qemu-img info JSON with the file name and actual-size masked. */
    private static String info(Path img) {
        String json = Tools.qemuImg("info", "--output=json", img.toString()).orFail().stdout();
        return json.replace(img.toString(), "IMG").replaceAll("\"actual-size\": \\d+", "\"actual-size\": N");
    }

    private static String check(Path img) {
        Tools.Result r = Tools.qemuImg("check", img.toString());
        return r.exitCode() + "\n" + r.stdout() + r.stderr().replace(img.toString(), "IMG");
    }
}
