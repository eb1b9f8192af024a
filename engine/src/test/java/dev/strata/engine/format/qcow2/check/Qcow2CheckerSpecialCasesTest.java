package dev.strata.engine.format.qcow2.check;

import dev.strata.engine.format.qcow2.Qcow2HeaderExtension;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.check.CheckOutcome;
import dev.strata.engine.storage.FileStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * The checker against the real {@code qemu-img check} where the damage needs its own image:
 * snapshot tables (misaligned or oversized snapshot L1 tables, incomplete entries, tables the
 * check cannot read, which stop it with "Check failed"), bitmaps (in-use bitmaps with broken
 * tables, stale bitmaps after a program without bitmap support), refcount overflow at narrow
 * refcount widths, LUKS header clusters, and the open paths (raw, missing data file, key needed).
 */
class Qcow2CheckerSpecialCasesTest {
    @TempDir
    static Path dir;

    private static Path make(String name, String createOptions, String size, String... writes) {
        Path p = dir.resolve(name);
        if (createOptions.isEmpty()) {
            QemuCheck.must(dir, "qemu-img", "create", "-f", "qcow2", p.toString(), size);
        } else {
            QemuCheck.must(dir, "qemu-img", "create", "-f", "qcow2", "-o", createOptions, p.toString(), size);
        }
        for (String w : writes) {
            QemuCheck.must(dir, "qemu-io", "-c", w, p.toString());
        }
        return p;
    }

    private static Path damaged(Path base, String name, Consumer<ImagePatcher> damage) throws IOException {
        Path p = dir.resolve(name);
        Files.copy(base, p);
        try (ImagePatcher patcher = new ImagePatcher(p)) {
            damage.accept(patcher);
        }
        return p;
    }

    private static Path snapshots() {
        Path p = dir.resolve("snap.base");
        if (!Files.exists(p)) {
            make("snap.base", "", "4M", "write -P 1 0 192k");
            QemuCheck.must(dir, "qemu-img", "snapshot", "-c", "one", p.toString());
            QemuCheck.must(dir, "qemu-io", "-c", "write -P 2 64k 64k", p.toString());
            QemuCheck.must(dir, "qemu-img", "snapshot", "-c", "two", p.toString());
        }
        return p;
    }

    @Test
    void snapshotL1TableNotAligned() throws IOException {
        Path p = damaged(snapshots(), "sn-l1-misaligned", s -> s.w64(s.snapshotEntry(0), s.u64(s.snapshotEntry(0)) + 0x200));
        QemuCheck.assertSameAsQemu(p);
    }

    @Test
    void snapshotL1TableTooLarge() throws IOException {
        Path p = damaged(snapshots(), "sn-l1-large", s -> s.w32(s.snapshotEntry(1) + 8, 5_000_000));
        QemuCheck.assertSameAsQemu(p);
    }

    @Test
    void snapshotL1TablePastEof() throws IOException {
        Path p = damaged(snapshots(), "sn-l1-eof", s -> s.w64(s.snapshotEntry(0), (s.fileClusters() + 3) * s.clusterSize));
        QemuCheck.assertSameAsQemu(p);
    }

    @Test
    void snapshotSharedClustersAndTableRefcounts() throws IOException {
        Path p = damaged(snapshots(), "sn-refs", s -> {
            s.setRefcount(s.header.snapshotsOffset() / s.clusterSize, 0);
            s.setL1(0, s.l1(0) | ImagePatcher.COPIED);
            s.setRefcount(s.dataCluster(s.firstDataEntry()), 1);
        });
        QemuCheck.assertSameAsQemu(p);
    }

    @Test
    void incompleteV3SnapshotEntry() throws IOException {
        // The last entry's extra data shrinks from 16 to 8 bytes; id and name move up.
        Path p = damaged(snapshots(), "sn-incomplete", s -> {
            long e = s.snapshotEntry(1);
            int ids = (s.u8(e + 12) << 8) | s.u8(e + 13);
            int names = (s.u8(e + 14) << 8) | s.u8(e + 15);
            long extra = s.u64(e + 32) & 0xffffffffL;
            byte[] strings = new byte[ids + names];
            for (int i = 0; i < strings.length; i++) {
                strings[i] = (byte) s.u8(e + 40 + extra + i);
            }
            s.w32(e + 36, 8);
            for (int i = 0; i < strings.length; i++) {
                s.w8(e + 48 + i, strings[i]);
            }
        });
        QemuCheck.assertSameAsQemu(p);
    }

    @Test
    void snapshotTableUnreadableStopsTheCheck() throws IOException {
        Path extra = damaged(snapshots(), "sn-extra", s -> s.w32(s.snapshotEntry(0) + 36, 5000));
        QemuCheck.assertSameAsQemu(extra);
        Path tooMany = damaged(snapshots(), "sn-too-many", s -> s.w32(60, 70000));
        QemuCheck.assertSameAsQemu(tooMany);
        Path misaligned = damaged(snapshots(), "sn-offset", s -> s.w64(64, s.header.snapshotsOffset() + 0x200));
        QemuCheck.assertSameAsQemu(misaligned);
        Path count = damaged(snapshots(), "sn-count", s -> s.w32(60, 3));
        QemuCheck.assertSameAsQemu(count);
    }

    private static Path bitmaps() {
        Path p = dir.resolve("bitmaps.base");
        if (!Files.exists(p)) {
            make("bitmaps.base", "", "4M", "write -P 1 0 64k");
            QemuCheck.must(dir, "qemu-img", "bitmap", "--add", p.toString(), "b0");
            QemuCheck.must(dir, "qemu-img", "bitmap", "--add", p.toString(), "b1");
        }
        return p;
    }

    /** Host offset of the bitmap directory. */
    private static long bitmapDirectory(ImagePatcher p) {
        Qcow2HeaderExtension.BitmapsExtension ext = p.header.bitmapsExtension();
        return ext.directoryOffset();
    }

    @Test
    void bitmapClusters() throws IOException {
        Path dirRef = damaged(bitmaps(), "bm-dir", p -> p.setRefcount(bitmapDirectory(p) / p.clusterSize, 0));
        QemuCheck.assertSameAsQemu(dirRef);
        Path tableRef = damaged(bitmaps(), "bm-table", p -> p.setRefcount(p.u64(bitmapDirectory(p)) / p.clusterSize, 2));
        QemuCheck.assertSameAsQemu(tableRef);
    }

    @Test
    void inUseBitmapWithBrokenTableStopsTheCheck() throws IOException {
        Path p = damaged(bitmaps(), "bm-broken", s -> {
            long d = bitmapDirectory(s);
            s.w8(d + 15, s.u8(d + 15) | 1); // IN_USE: qemu does not load the table at open
            s.w64(s.u64(d), 0xff00000000000000L);
        });
        QemuCheck.assertSameAsQemu(p);
    }

    @Test
    void inUseBitmapDataPastEof() throws IOException {
        Path p = damaged(bitmaps(), "bm-data-eof", s -> {
            long d = bitmapDirectory(s);
            s.w8(d + 15, s.u8(d + 15) | 1);
            s.w64(s.u64(d), (s.fileClusters() + 9) * s.clusterSize);
        });
        QemuCheck.assertSameAsQemu(p);
    }

    @Test
    void staleBitmapsAreWarnedAboutAndLeak() throws IOException {
        Path p = damaged(bitmaps(), "bm-stale", s -> s.w64(88, 0));
        QemuCheck.assertSameAsQemu(p);
    }

    @Test
    void refcountOverflowAtOneBit() throws IOException {
        Path base = make("rb1.base", "refcount_bits=1,cluster_size=4096", "8M", "write -P 1 0 8k", "write -P 1 3M 4k");
        QemuCheck.assertSameAsQemu(damaged(base, "rb1-l1-dup", p -> p.setL1(1, p.l1(0))));
        QemuCheck.assertSameAsQemu(damaged(base, "rb1-l2-dup",
                p -> p.w64(p.l2EntryOffset(p.l2Table(0), 5), p.u64(p.firstDataEntry()))));
        Path rb2 = make("rb2.base", "refcount_bits=2,cluster_size=4096", "8M", "write -P 1 0 8k");
        QemuCheck.assertSameAsQemu(damaged(rb2, "rb2-triple", p -> {
            for (int j = 5; j <= 7; j++) {
                p.w64(p.l2EntryOffset(p.l2Table(0), j), p.u64(p.firstDataEntry()));
            }
        }));
    }

    @Test
    void refcountBlockReferencedTwice() throws IOException {
        Path base = make("rbtwice.base", "", "4M", "write -P 1 0 64k");
        QemuCheck.assertSameAsQemu(damaged(base, "l2-is-refblock",
                p -> p.setL1(0, ImagePatcher.COPIED | p.refcountTableEntry(0))));
    }

    @Test
    void luksHeaderClustersAreCounted() throws IOException {
        Path base = dir.resolve("luks.base");
        // qemu's PBKDF benchmark fails now and then ("Unable to get accurate CPU usage") when the
        // thread CPU clock is too coarse for its first round: try again, on exactly that failure,
        // after a pause (it has failed five times running on a busy host).
        java.util.List<String> create = java.util.List.of("qemu-img", "create", "-f", "qcow2", "--object",
                "secret,id=sec0,data=abc", "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10",
                base.toString(), "1M");
        Object[] made = QemuCheck.tool(dir, create);
        for (int i = 0; i < 19 && (int) made[2] != 0 && ((String) made[1]).contains("Unable to get accurate CPU usage");
                i++) {
            java.util.concurrent.locks.LockSupport.parkNanos(100_000_000L);
            made = QemuCheck.tool(dir, create);
        }
        if ((int) made[2] != 0) {
            throw new AssertionError(String.join(" ", create) + " failed: " + made[1] + made[0]);
        }
        for (String name : new String[] {"luks-clean", "luks-damaged"}) {
            Path p = damaged(base, name, s -> {
                if (name.endsWith("damaged")) {
                    s.setRefcount(3, 0);
                    s.appendLeakedCluster();
                }
            });
            // qemu-img needs the key to open it; the checker itself needs none.
            QemuCheck.Result expected = QemuCheck.qemu(dir, "driver=qcow2,file.filename=" + p + ",encrypt.key-secret=sec0",
                    "--object", "secret,id=sec0,data=abc", "--image-opts");
            StringBuilder err = new StringBuilder();
            CheckOutcome outcome;
            try (FileStorage f = FileStorage.open(p.toString(), true)) {
                outcome = Qcow2Checker.check(f, new CheckListener() {
                    @Override
                    public void line(String text) {
                        err.append(text).append('\n');
                    }

                    @Override
                    public void error(String message) {
                        err.append("qemu-img: ").append(message).append('\n');
                    }

                    @Override
                    public void raw(String text) {
                        err.append(text);
                    }
                });
            }
            CheckOutcome.Completed c = assertInstanceOf(CheckOutcome.Completed.class, outcome);
            assertEquals(expected.stderr(), err.toString());
            assertEquals(expected.counters(), QemuCheck.counters(c.report()));
            assertEquals(expected.exitCode(), outcome.exitCode());
        }
        // Without the key qemu-img cannot open it for checking, and neither do we.
        QemuCheck.assertSameAsQemu(base);
    }

    @Test
    void openPaths() throws IOException {
        Path raw = dir.resolve("plain.raw");
        QemuCheck.must(dir, "qemu-img", "create", "-f", "raw", raw.toString(), "1M");
        QemuCheck.assertSameAsQemu(raw);
        QemuCheck.assertSameAsQemu(dir.resolve("does-not-exist.qcow2"));
        Path data = dir.resolve("external.data");
        Path df = make("external.qcow2", "data_file=" + data, "1M", "write -P 1 0 64k");
        QemuCheck.assertSameAsQemu(df);
        Files.delete(data);
        QemuCheck.assertSameAsQemu(df);
        Path truncatedHeader = dir.resolve("short.qcow2");
        Files.write(truncatedHeader, new byte[] {'Q', 'F', 'I', (byte) 0xfb, 0, 0, 0, 3});
        QemuCheck.assertSameAsQemu(truncatedHeader);
        Path noReftable = damaged(make("noref.base", "", "1M", "write -P 1 0 64k"), "noref.qcow2", p -> p.w32(56, 0));
        QemuCheck.assertSameAsQemu(noReftable);
    }

    @Test
    void backingChainIsOpenedLikeQemuDoes() throws IOException {
        Path base = make("chain-base.qcow2", "", "4M", "write -P 1 0 64k");
        Path top = dir.resolve("chain-top.qcow2");
        QemuCheck.must(dir, "qemu-img", "create", "-f", "qcow2", "-b", base.getFileName().toString(), "-F", "qcow2",
                top.toString());
        QemuCheck.must(dir, "qemu-io", "-c", "write -P 2 64k 64k", top.toString());
        Path noReftable = damaged(top, "chain-top-noref.qcow2", p -> p.w32(56, 0));
        QemuCheck.assertSameAsQemu(top);
        QemuCheck.assertSameAsQemu(noReftable);
        Files.move(base, dir.resolve("chain-base.moved"));
        QemuCheck.assertSameAsQemu(top);
        QemuCheck.assertSameAsQemu(noReftable);
    }

    @Test
    void dirtyImageWithLazyRefcounts() {
        Path p = make("dirty.qcow2", "lazy_refcounts=on", "4M");
        // qemu-io aborts after the write: refcounts were never written, the dirty bit stays set.
        QemuCheck.tool(dir, java.util.List.of("qemu-io", "-c", "write -P 1 0 128k", "-c", "abort", p.toString()));
        QemuCheck.assertSameAsQemu(p);
    }

    @Test
    void l1EntryWithoutOffset() throws IOException {
        Path base = make("l1-flag.base", "", "4M", "write -P 1 0 64k");
        QemuCheck.assertSameAsQemu(damaged(base, "l1-copied-only", p -> p.setL1(0, ImagePatcher.COPIED)));
        QemuCheck.assertSameAsQemu(damaged(base, "l1-huge-size", p -> p.w32(36, 4_000_000)));
    }

    @Test
    void offsetsQemuCannotReadAt() throws IOException {
        // A refcount block at an offset qemu's block layer refuses (EIO for every lookup in it),
        // and at one it reads as zeros.
        Path base = make("limits.base", "cluster_size=512,refcount_bits=64", "1M", "write -P 1 0 64k");
        for (long offset : new long[] {0xfffffffffffffe00L, 0x7ffffffffffffe00L, 0x0100000000000000L}) {
            QemuCheck.assertSameAsQemu(damaged(base, "refblock-" + Long.toHexString(offset),
                    p -> p.setRefcountTableEntry(1, offset)));
        }
        // Snapshot L1 tables there: an I/O error, an allocation failure, zeros.
        for (long offset : new long[] {0x7fffffffffff0000L, 0xffffffffffff0000L, 0x0100000000000000L}) {
            QemuCheck.assertSameAsQemu(damaged(snapshots(), "sn-l1-at-" + Long.toHexString(offset),
                    p -> p.w64(p.snapshotEntry(0), offset)));
        }
    }

    @Test
    void openErrorsOfCheckMode() throws IOException {
        Path base = make("open-errors.base", "", "4M", "write -P 1 0 64k");
        // Check mode skips the snapshot table: the next header problem is the one reported.
        QemuCheck.assertSameAsQemu(damaged(base, "sn-and-l1-too-large", p -> {
            p.w32(60, 70000);
            p.w32(36, 5_000_000);
        }));
        // An empty backing file name means no backing file.
        QemuCheck.assertSameAsQemu(damaged(base, "empty-backing-name", p -> {
            p.w64(8, 0x1000);
            p.w32(16, 16);
        }));
        // LUKS without its header extension, and the old AES method: both need I/O to open.
        QemuCheck.assertSameAsQemu(damaged(base, "luks-no-header", p -> p.w32(32, 2)));
        QemuCheck.assertSameAsQemu(damaged(base, "aes", p -> p.w32(32, 1)));
    }

    @Test
    void extendedL2Entries() throws IOException {
        Path base = make("xl2.base", "extended_l2=on", "4M", "write -P 1 0 3k", "write -P 2 1M 64k");
        QemuCheck.assertSameAsQemu(damaged(base, "xl2-unallocated-with-alloc-bits",
                p -> p.w64(p.l2EntryOffset(p.l2Table(0), 5) + 8, 0x3)));
        QemuCheck.assertSameAsQemu(damaged(base, "xl2-compressed-with-bitmap", p -> {
            long e = p.l2EntryOffset(p.l2Table(0), 6);
            p.w64(e, ImagePatcher.COMPRESSED | 0x50000);
            p.w64(e + 8, 1);
        }));
        QemuCheck.assertSameAsQemu(damaged(base, "xl2-preallocated-misaligned", p -> {
            long e = p.firstDataEntry();
            p.w64(e, p.u64(e) + 0x200);
            p.w64(e + 8, 0x0000000f00000000L); // zero bits only: no data
        }));
        QemuCheck.assertSameAsQemu(damaged(base, "xl2-alloc-and-zero-misaligned", p -> {
            long e = p.firstDataEntry();
            p.w64(e, p.u64(e) + 0x200);
            p.w64(e + 8, 0xffff000000000000L);
        }));
        Path v2 = make("v2.base", "compat=0.10", "4M", "write -P 1 0 64k");
        QemuCheck.assertSameAsQemu(damaged(v2, "v2-zero-flag-misaligned",
                p -> p.w64(p.firstDataEntry(), p.u64(p.firstDataEntry()) + 0x201)));
    }

    @Test
    void externalDataFileRules() throws IOException {
        Path base = make("df.base", "data_file=" + dir.resolve("df.data"), "4M", "write -P 1 0 128k");
        QemuCheck.assertSameAsQemu(damaged(base, "df-compressed",
                p -> p.w64(p.l2EntryOffset(p.l2Table(0), 1), ImagePatcher.COMPRESSED | 0x30000)));
        QemuCheck.assertSameAsQemu(damaged(base, "df-offset-0-copied",
                p -> p.w64(p.l2EntryOffset(p.l2Table(0), 7), ImagePatcher.COPIED)));
        QemuCheck.assertSameAsQemu(damaged(base, "df-copied-cleared",
                p -> p.w64(p.l2EntryOffset(p.l2Table(0), 1), p.u64(p.l2EntryOffset(p.l2Table(0), 1)) & ~ImagePatcher.COPIED)));
        QemuCheck.assertSameAsQemu(damaged(base, "df-snapshot", p -> {
            // A snapshot table entry (sharing the active L1 table) in a new cluster.
            long cluster = p.fileClusters();
            p.setLength((cluster + 1) * p.clusterSize);
            long e = cluster * p.clusterSize;
            p.w64(e, p.header.l1TableOffset());
            p.w32(e + 8, 1);
            p.w32(e + 12, 0x00010001); // id and name: one byte each
            p.w32(e + 36, 16);
            p.w8(e + 56, '1');
            p.w8(e + 57, 's');
            p.w32(60, 1);
            p.w64(64, e);
            p.setRefcount(cluster, 1);
        }));
    }
}
