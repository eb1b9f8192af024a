package dev.strata.it;

import dev.strata.it.Corpus.BadImage;
import dev.strata.it.Corpus.ImagePair;
import dev.strata.it.CorpusImage.Trait;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * How each corpus image is made: only real {@code qemu-img} and {@code qemu-io} write images;
 * Java writes raw bytes (random data, odd sizes) and patches headers for the bad inputs.
 *
 * <p>Writes use patterns ({@code -P}) at odd offsets and lengths so that every layer of a chain
 * holds different bytes and every cluster size sees partial clusters. Sizes stay small (32 MiB
 * virtual at most, except one sparse 4 TiB image) so the corpus is tens of MiB on disk and builds
 * in seconds.
 */
final class CorpusRecipes {
    /** A good image and what it is for. */
    record Entry(String name, Set<Trait> traits, String about) {
    }

    private static final String P = Corpus.PREFIX;
    private static final long TIB = 1L << 40;

    private final List<Entry> entries = new ArrayList<>();
    private final List<ImagePair> pairs = new ArrayList<>();
    private final List<BadImage> badImages = new ArrayList<>();

    List<Entry> entries() {
        return entries;
    }

    List<ImagePair> pairs() {
        return pairs;
    }

    List<BadImage> badImages() {
        return badImages;
    }

    /**
     * Writes that suit any cluster size on a 16 MiB image: odd offsets and lengths, zero writes
     * with and without unmap, a partly discarded range, a write across 8 MiB and one at the end.
     */
    private static final String[] STANDARD_WRITES = {
        "write -P 0xa1 0 4097",
        "write -P 0xa2 1000003 70001",
        "write -z 2M 1M",
        "write -P 0xa3 5M 256k",
        "discard 5308416 128k",
        "write -z -u 7M 256k",
        "write -P 0xa4 8388311 777",
        "write -P 0xa5 16772216 5000",
    };

    /** The same ideas for 2 MiB clusters on an 8 MiB image, touching few clusters. */
    private static final String[] LARGE_CLUSTER_WRITES = {
        "write -P 0xa1 0 4097",
        "write -P 0xa2 1000003 70001",
        "write -z 2M 2M",
        "write -z -u 4M 2M",
        "discard 1M 64k",
        "write -P 0xa5 8383608 5000",
    };

    void buildAll() {
        rawImages();
        qcow2Basics();
        compressed();
        dataFiles();
        preallocation();
        encrypted();
        snapshotsAndBitmaps();
        chains();
        huge();
        checkFindings();
        comparePairs();
        badInputs();
    }

    // ---------------------------------------------------------------- raw

    private void rawImages() {
        raw("raw/holes.raw", "2M", "raw with holes",
                "write -P 0x11 0 4097", "write -P 0x12 1048579 70000",
                "write -P 0x13 1179649 3000", "write -P 0x14 2096640 512");
        raw("raw/empty.raw", "1M", "raw, all hole");
        raw("raw/zero-length.raw", "0", "raw, 0 bytes");
        Path odd = file("raw/odd-size.raw");
        byte[] data = new byte[1_234_567];
        new Random(7).nextBytes(data);
        Arrays.fill(data, 200_000, 1_100_000, (byte) 0);
        writeBytes(odd, data);
        add("raw/odd-size.raw", "raw of 1234567 bytes, random data");
    }

    // ---------------------------------------------------------------- qcow2

    private void qcow2Basics() {
        qcow2("qcow2/c512.qcow2", "16M", "cluster_size=512", "512 B clusters", STANDARD_WRITES);
        qcow2("qcow2/c4k.qcow2", "16M", "cluster_size=4096", "4 KiB clusters", STANDARD_WRITES);
        qcow2("qcow2/c64k.qcow2", "16M", null, "64 KiB clusters (defaults, v3)", STANDARD_WRITES);
        qcow2("qcow2/c2m.qcow2", "8M", "cluster_size=2M", "2 MiB clusters", LARGE_CLUSTER_WRITES);
        qcow2("qcow2/v2.qcow2", "16M", "compat=0.10", "compat 0.10 (v2)", STANDARD_WRITES);
        qcow2("qcow2/v2-c4k.qcow2", "16M", "compat=0.10,cluster_size=4096", "v2, 4 KiB clusters",
                STANDARD_WRITES);
        qcow2("qcow2/empty.qcow2", "16M", null, "nothing written");
        qcow2("qcow2/lazy.qcow2", "16M", "lazy_refcounts=on", "lazy refcounts", STANDARD_WRITES);
        qcow2("qcow2/extl2.qcow2", "16M", "extended_l2=on", "extended L2, 64 KiB clusters",
                "write -P 0xb1 2048 2048", "write -P 0xb2 70000 3000", "write -z 131072 4096",
                "write -P 0xb3 196608 65536", "discard 204800 16384", "write -z 1M 1M",
                "write -P 0xb4 5242879 2", "write -P 0xb5 12M 100000");
        qcow2("qcow2/extl2-c2m.qcow2", "8M", "extended_l2=on,cluster_size=2M",
                "extended L2, 2 MiB clusters", LARGE_CLUSTER_WRITES);
        qcow2("qcow2/rb1.qcow2", "16M", "refcount_bits=1", "refcount_bits=1", STANDARD_WRITES);
        qcow2("qcow2/rb8.qcow2", "16M", "refcount_bits=8", "refcount_bits=8", STANDARD_WRITES);
        qcow2("qcow2/rb64.qcow2", "16M", "refcount_bits=64", "refcount_bits=64", STANDARD_WRITES);
        qcow2("qcow2/odd-size.qcow2", "1234567", null, "virtual size not a multiple of 512",
                "write -P 0x71 0 512", "write -P 0x72 1234000 567");
    }

    // ---------------------------------------------------------------- compression

    private void compressed() {
        Path src = file("comp/src.raw");
        try (RandomAccessFile f = new RandomAccessFile(src.toFile(), "rw")) {
            f.setLength(8 << 20);
            byte[] mib = new byte[1 << 20];
            Arrays.fill(mib, (byte) 0x61);
            f.seek(0);
            f.write(mib);
            byte[] random = new byte[300_000];
            new Random(42).nextBytes(random);
            f.seek(1 << 20);
            f.write(random);
            byte[] text = "strata reads qcow2 chains; ".repeat(4000).getBytes(StandardCharsets.US_ASCII);
            f.seek(2 << 20);
            f.write(text);
            f.seek(3 << 20);
            f.write(new byte[256 << 10]); // allocated zeros
            byte[] b = new byte[40_000];
            Arrays.fill(b, (byte) 0x62);
            f.seek((5 << 20) + 12_345);
            f.write(b);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        add("comp/src.raw", "source of the compressed images");
        Set<Trait> c = EnumSet.of(Trait.COMPRESSED);
        convert("comp/zlib.qcow2", "comp/src.raw", c, "zlib compressed", "-c");
        convert("comp/zstd.qcow2", "comp/src.raw", c, "zstd compressed", "-c", "-o", "compression_type=zstd");
        convert("comp/zlib-c4k.qcow2", "comp/src.raw", c, "zlib, 4 KiB clusters", "-c", "-o", "cluster_size=4096");
        convert("comp/zlib-c512.qcow2", "comp/src.raw", c, "zlib, 512 B clusters", "-c", "-o", "cluster_size=512");
        convert("comp/zlib-v2.qcow2", "comp/src.raw", c, "zlib, compat 0.10", "-c", "-o", "compat=0.10");
        copy("comp/zlib.qcow2", "comp/mixed.qcow2");
        io("comp/mixed.qcow2", null, "write -P 0xc1 65536 4096", "write -z 2M 64k", "discard 5M 1M",
                "write -P 0xc2 7340033 1000");
        add("comp/mixed.qcow2", c, "compressed, partly rewritten, zeroed, discarded");
    }

    // ---------------------------------------------------------------- external data files

    private void dataFiles() {
        Set<Trait> df = EnumSet.of(Trait.DATA_FILE);
        // Named relative to the working directory, where qemu (and we) open it.
        qcow2("df/ext.qcow2", "16M", "data_file=" + P + "df/ext.data", df, "external data file",
                STANDARD_WRITES);
        qcow2("df/raw.qcow2", "16M",
                "data_file=" + Corpus.dir().resolve("df/raw.data") + ",data_file_raw=on", df,
                "external data file, data_file_raw=on", STANDARD_WRITES);
        // Named relative to the image's directory: qemu looks for it in the working directory.
        Tools.run(Corpus.dir().resolve("df"), Tools.DEFAULT_TIMEOUT, "qemu-img", "create", "-q", "-f",
                "qcow2", "-o", "data_file=lost.data", "lost.qcow2", "4M").orFail();
        add("df/lost.qcow2", EnumSet.of(Trait.DATA_FILE, Trait.BROKEN), "data file not found from cwd");
    }

    // ---------------------------------------------------------------- preallocation

    private void preallocation() {
        qcow2("pre/metadata.qcow2", "4M", "preallocation=metadata", "preallocation=metadata",
                "write -P 0x31 1M 4097", "write -z 3M 64k", "discard 2M 512k");
        qcow2("pre/falloc.qcow2", "1M", "preallocation=falloc", "preallocation=falloc");
        qcow2("pre/full.qcow2", "1M", "preallocation=full", "preallocation=full", "write -P 0x32 512k 3333");
        qemuImg("create", "-q", "-f", "raw", "-o", "preallocation=full", P + "pre/full.raw", "1M");
        add("pre/full.raw", "raw, preallocation=full");
        qemuImg("create", "-q", "-f", "raw", "-o", "preallocation=falloc", P + "pre/falloc.raw", "1M");
        add("pre/falloc.raw", "raw, preallocation=falloc");
    }

    // ---------------------------------------------------------------- encryption

    /**
     * LUKS-encrypted qcow2 with some data written. The key is never given to either tool: info
     * works, reading must not (qemu-img refuses to open; the engine may open but not read).
     */
    private void encrypted() {
        file("enc/luks.qcow2");
        String[] create = {"qemu-img", "create", "-q", "-f", "qcow2", "--object", "secret,id=sec0,data=strata",
            "-o", "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10", P + "enc/luks.qcow2", "4M"};
        // qemu times PBKDF2 with the thread's CPU clock and gives up ("Unable to get accurate CPU
        // usage") when a round measures 0 ms; that is chance, sometimes several times running, so
        // try again, after a pause.
        Tools.Result made = Tools.run(create);
        for (int i = 0; i < 19 && made.exitCode() != 0 && made.stderr().contains("accurate CPU usage"); i++) {
            java.util.concurrent.locks.LockSupport.parkNanos(100_000_000L);
            made = Tools.run(create);
        }
        made.orFail();
        Tools.Result r = Tools.qemuIo("--object", "secret,id=sec0,data=strata", "--image-opts",
                "-c", "write -P 0x49 64k 70000",
                "driver=qcow2,encrypt.key-secret=sec0,file.filename=" + P + "enc/luks.qcow2").orFail();
        if (!r.stderr().isEmpty()) {
            fail("qemu-io on enc/luks.qcow2: " + r.stderr());
        }
        add("enc/luks.qcow2", "LUKS encrypted, data written, no key given");
    }

    // ---------------------------------------------------------------- snapshots and bitmaps

    private void snapshotsAndBitmaps() {
        String snaps = "snap/snaps.qcow2";
        qcow2(snaps, "16M", null, EnumSet.of(Trait.SNAPSHOTS), "internal snapshots",
                "write -P 0xd1 0 65537");
        qemuImg("snapshot", "-c", "one", P + snaps);
        io(snaps, null, "write -P 0xd2 32768 100000", "discard 1M 1M");
        qemuImg("snapshot", "-c", "second snapshot with a long name that overflows its column", P + snaps);
        io(snaps, null, "write -P 0xd3 10M 1M", "write -z 0 4096");

        String resized = "snap/resized.qcow2";
        qcow2(resized, "8M", null, EnumSet.of(Trait.SNAPSHOTS), "snapshot, then resized",
                "write -P 0xd4 7M 1M");
        qemuImg("snapshot", "-c", "small", P + resized);
        qemuImg("resize", "-q", P + resized, "24M");
        io(resized, null, "write -P 0xd5 20M 12345");

        String bitmaps = "bm/bitmaps.qcow2";
        qcow2(bitmaps, "16M", null, EnumSet.of(Trait.BITMAPS), "persistent bitmaps", "write -P 0xe1 0 1M");
        qemuImg("bitmap", "--add", P + bitmaps, "b0");
        qemuImg("bitmap", "--add", "-g", "131072", P + bitmaps, "b1");
        qemuImg("bitmap", "--add", "--disable", P + bitmaps, "b2");
        io(bitmaps, null, "write -P 0xe2 5M 70000", "discard 0 64k");
    }

    // ---------------------------------------------------------------- backing chains

    private void chains() {
        // ch1: raw base in a subdirectory, shorter than its overlays; 4 KiB clusters in the middle.
        raw("ch1/sub/base.raw", "6M", "raw base, 6 MiB", "write -P 0xe1 0 1M", "write -P 0xe2 6288456 3000");
        overlay("ch1/mid.qcow2", "sub/base.raw", "raw", "16M", "cluster_size=4096", "middle over sub/base.raw",
                "write -P 0xe3 512K 100001", "write -z 5M 512K", "write -P 0xe4 7M 4097");
        overlay("ch1/top.qcow2", "mid.qcow2", "qcow2", "16M", null, "top of 3 layers",
                "write -P 0xe5 0 3000", "discard 640K 64K", "write -z 6225920 128K", "write -P 0xe6 15M 1M");

        // ch2: "../a/base.qcow2" from a subdirectory; v2 base, extended-L2 middle, 512 B top, 4 layers.
        qcow2("ch2/a/base.qcow2", "8M", "compat=0.10", "v2 base", "write -P 0xf1 0 1M", "write -P 0xf2 7864319 524289");
        overlay("ch2/b/mid.qcow2", "../a/base.qcow2", "qcow2", "12M", "extended_l2=on",
                "extended L2 over ../a/base.qcow2", "write -P 0xf3 4096 8192", "write -z 1M 4K", "discard 7M 64k");
        overlay("ch2/top.qcow2", "b/mid.qcow2", "qcow2", "12M", "cluster_size=512", "512 B clusters over b/mid.qcow2",
                "write -P 0xf4 1234567 12345");
        overlay("ch2/top2.qcow2", "top.qcow2", "qcow2", "16M", null, "top of 4 layers, longer than its backing",
                "write -P 0xf5 12057600 1M");

        // ch3: absolute backing name; a raw backing file whose format is not recorded (probed).
        raw("ch3/base.raw", "4M", "raw base", "write -P 0x41 0 1M", "write -P 0x45 3M 3333");
        overlay("ch3/abs.qcow2", Corpus.dir().resolve("ch3/base.raw").toString(), "raw", "4M", null,
                "absolute backing name", "write -P 0x42 1M 5000");
        overlay("ch3/probed.qcow2", "base.raw", "raw", "4M", null, "backing format probed",
                "write -P 0x43 2M 5000");
        try (Qcow2Patcher p = new Qcow2Patcher(file("ch3/probed.qcow2"))) {
            if (!p.hideExtension(Qcow2Patcher.EXT_BACKING_FORMAT)) {
                fail("ch3/probed.qcow2 has no backing format extension to hide");
            }
        }

        // ch4: overlay without a size of its own over a compressed image in a sibling directory.
        overlay("ch4/over-zstd.qcow2", "../comp/zstd.qcow2", "qcow2", null, null, "over a zstd image",
                "write -P 0x44 1M 64k", "write -z 5M 2M");

        // names: spaces, a non-ASCII letter, a quote and a backslash (JSON escaping, path joins).
        raw("names/sp ace/base \u00fc.raw", "1M", "non-ASCII raw base", "write -P 0x46 4096 5000");
        overlay("names/sp ace/mid \"q\".qcow2", "base \u00fc.raw", "raw", "2M", null, "quote in the name",
                "write -P 0x47 1M 3000");
        overlay("names/top\\x.qcow2", "sp ace/mid \"q\".qcow2", "qcow2", "2M", null, "backslash in the name",
                "write -P 0x48 512k 512");
    }

    // ---------------------------------------------------------------- huge

    private void huge() {
        qcow2("big/4t.qcow2", "4T", null, EnumSet.of(Trait.HUGE), "4 TiB sparse",
                "write -P 0x51 0 4097", "write -P 0x52 " + (2 * TIB - 1) + " 70000",
                "write -P 0x53 " + (4 * TIB - 70000) + " 70000");
    }

    // ---------------------------------------------------------------- images check has findings on

    private void checkFindings() {
        qcow2("chk/leak.qcow2", "8M", null, "one leaked cluster", "write -P 0x61 0 64k");
        try (Qcow2Patcher p = new Qcow2Patcher(file("chk/leak.qcow2"))) {
            long cluster = p.clusterSize();
            long index = (p.length() + cluster - 1) / cluster;
            p.truncate((index + 1) * cluster);
            p.putU16(p.firstRefcountBlock() + 2 * index, 1);
        }
        qcow2("chk/refcount0.qcow2", "8M", null, "data cluster with refcount 0", "write -P 0x62 0 64k");
        try (Qcow2Patcher p = new Qcow2Patcher(file("chk/refcount0.qcow2"))) {
            long l2 = p.l2TableOffset(0);
            long data = p.u64(l2) & Qcow2Patcher.OFFSET_MASK;
            p.putU16(p.firstRefcountBlock() + 2 * (data / p.clusterSize()), 0);
        }
    }

    // ---------------------------------------------------------------- compare pairs

    private void comparePairs() {
        convert("cmp/holes.qcow2", "raw/holes.raw", Set.of(), "qcow2 copy of raw/holes.raw");
        qemuImg("convert", "-O", "qcow2", P + "raw/holes.raw", P + "cmp/holes2.qcow2");
        qemuImg("convert", "-S", "0", "-O", "raw", P + "raw/holes.raw", P + "cmp/holes-full.raw");
        qemuImg("convert", "-O", "qcow2", P + "ch2/top2.qcow2", P + "cmp/ch2-flat.qcow2");

        pair("raw/holes.raw", "cmp/holes.qcow2", "identical: raw vs qcow2 copy");
        pair("cmp/holes.qcow2", "cmp/holes2.qcow2", "identical, strict", "-s");
        pair("raw/holes.raw", "cmp/holes-full.raw", "same content, different allocation");
        pair("raw/holes.raw", "cmp/holes-full.raw", "same content, different allocation, strict", "-s");
        pair("cmp/holes.qcow2", "raw/holes.raw", "explicit formats", "-f", "qcow2", "-F", "raw");
        pair("ch1/top.qcow2", "ch1/mid.qcow2", "differing layers of a chain");
        pair("ch1/top.qcow2", "ch1/mid.qcow2", "differing, quiet", "-q");
        pair("ch1/sub/base.raw", "ch1/mid.qcow2", "different sizes");
        pair("ch1/sub/base.raw", "ch1/mid.qcow2", "different sizes, strict", "-s");
        pair("ch3/base.raw", "ch3/abs.qcow2", "same size, content differs late");
        pair("comp/zlib.qcow2", "comp/src.raw", "zlib vs its source");
        pair("comp/zstd.qcow2", "comp/zlib-c512.qcow2", "zstd vs zlib 512 B clusters");
        pair("comp/mixed.qcow2", "comp/zlib.qcow2", "rewritten compressed image vs original");
        pair("qcow2/c512.qcow2", "qcow2/c2m.qcow2", "512 B vs 2 MiB clusters, same writes");
        pair("qcow2/c64k.qcow2", "qcow2/extl2.qcow2", "standard vs extended L2");
        pair("qcow2/v2.qcow2", "qcow2/c4k.qcow2", "v2 vs v3, strict", "-s");
        pair("ch2/top2.qcow2", "cmp/ch2-flat.qcow2", "4-layer chain vs its flattened copy");
        pair("big/4t.qcow2", "big/4t.qcow2", "4 TiB with itself");
        pair("raw/empty.raw", "qcow2/empty.qcow2", "empty raw vs empty qcow2 of other size");
        pair("raw/holes.raw", "cmp/does-not-exist.qcow2", "second image missing");
    }

    // ---------------------------------------------------------------- bad inputs

    private void badInputs() {
        String src = "bad/src.qcow2";
        qcow2(src, "4M", "cluster_size=4096", "source of the bad images", "write -P 0x5a 0 70000", "write -P 0x5b 2M 4096");
        entries.remove(entries.size() - 1);

        bad("truncated-header", src, "header cut at 50 bytes", p -> p.truncate(50));
        bad("bad-magic", src, "magic destroyed (probes as raw)", p -> p.putU32(Qcow2Patcher.MAGIC, 0x51464900));
        bad("version-4", src, "qcow2 version 4", p -> p.putU32(Qcow2Patcher.VERSION, 4));
        bad("cluster-bits-8", src, "cluster_bits 8", p -> p.putU32(Qcow2Patcher.CLUSTER_BITS, 8));
        bad("cluster-bits-31", src, "cluster_bits 31", p -> p.putU32(Qcow2Patcher.CLUSTER_BITS, 31));
        bad("header-length-short", src, "header_length 72 in a v3 header",
                p -> p.putU32(Qcow2Patcher.HEADER_LENGTH, 72));
        bad("header-length-huge", src, "header_length past the first cluster",
                p -> p.putU32(Qcow2Patcher.HEADER_LENGTH, 4096 + 8));
        bad("unknown-incompatible", src, "unknown incompatible feature bit 63",
                p -> p.putU64(Qcow2Patcher.INCOMPATIBLE_FEATURES, p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) | 1L << 63));
        bad("corrupt-bit", src, "corrupt bit set",
                p -> p.putU64(Qcow2Patcher.INCOMPATIBLE_FEATURES, p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) | 2));
        bad("dirty-bit", src, "dirty bit set",
                p -> p.putU64(Qcow2Patcher.INCOMPATIBLE_FEATURES, p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) | 1));
        bad("bad-compression-type", src, "compression type 7",
                p -> {
                    p.putU64(Qcow2Patcher.INCOMPATIBLE_FEATURES, p.u64(Qcow2Patcher.INCOMPATIBLE_FEATURES) | 8);
                    p.fill(104, 1, (byte) 7);
                });
        bad("l1-past-eof", src, "L1 table past EOF", p -> p.putU64(Qcow2Patcher.L1_TABLE_OFFSET, TIB));
        bad("l1-misaligned", src, "L1 table offset misaligned",
                p -> p.putU64(Qcow2Patcher.L1_TABLE_OFFSET, p.u64(Qcow2Patcher.L1_TABLE_OFFSET) + 8));
        bad("l1-huge", src, "l1_size absurdly large", p -> p.putU32(Qcow2Patcher.L1_SIZE, 0x10000000));
        bad("l1-too-small", src, "l1_size 0 for a 4 MiB disk", p -> p.putU32(Qcow2Patcher.L1_SIZE, 0));
        bad("l2-misaligned", src, "L2 table offset misaligned",
                p -> p.putU64(p.l1EntryOffset(0), p.u64(p.l1EntryOffset(0)) + 512));
        bad("l2-past-eof", src, "L2 table past EOF", p -> p.putU64(p.l1EntryOffset(0), TIB | 1L << 63));
        bad("data-misaligned", src, "data cluster offset misaligned",
                p -> p.putU64(p.l2TableOffset(0), p.u64(p.l2TableOffset(0)) + 512));
        bad("data-past-eof", src, "data cluster past EOF",
                p -> p.putU64(p.l2TableOffset(0), TIB | 1L << 63));
        bad("refcount-table-misaligned", src, "refcount table offset misaligned",
                p -> p.putU64(Qcow2Patcher.REFCOUNT_TABLE_OFFSET, p.u64(Qcow2Patcher.REFCOUNT_TABLE_OFFSET) + 8));
        bad("refcount-block-past-eof", src, "refcount block past EOF",
                p -> p.putU64(p.u64(Qcow2Patcher.REFCOUNT_TABLE_OFFSET), TIB));
        bad("refcount-block-misaligned", src, "refcount block offset misaligned",
                p -> p.putU64(p.u64(Qcow2Patcher.REFCOUNT_TABLE_OFFSET), p.firstRefcountBlock() + 512));
        bad("backing-name-too-long", src, "backing_file_size 2000",
                p -> {
                    p.putU64(Qcow2Patcher.BACKING_FILE_OFFSET, 512);
                    p.putU32(Qcow2Patcher.BACKING_FILE_SIZE, 2000);
                });
        bad("too-many-snapshots", src, "nb_snapshots 0x7fffffff",
                p -> {
                    p.putU32(Qcow2Patcher.NB_SNAPSHOTS, 0x7fffffff);
                    p.putU64(Qcow2Patcher.SNAPSHOTS_OFFSET, 3L << 12);
                });
        bad("compressed-garbage", "comp/zlib.qcow2", "compressed cluster that does not inflate",
                p -> {
                    long[] e = p.firstCompressedEntry();
                    assertNotNull(e, "comp/zlib.qcow2 has no compressed cluster");
                    p.fill(p.compressedDataOffset(e[1]), 64, (byte) 0xff);
                });

        qcow2("bad/loop-self.qcow2", "4M", null, "", "write -P 0x5c 0 512");
        entries.remove(entries.size() - 1);
        qemuImg("rebase", "-u", "-b", "loop-self.qcow2", "-F", "qcow2", P + "bad/loop-self.qcow2");
        badImages.add(new BadImage(P + "bad/loop-self.qcow2", "backs itself"));

        qcow2("bad/loop-a.qcow2", "4M", null, "", "write -P 0x5d 0 512");
        entries.remove(entries.size() - 1);
        overlay("bad/loop-b.qcow2", "loop-a.qcow2", "qcow2", null, null, "", "write -P 0x5e 512 512");
        entries.remove(entries.size() - 1);
        qemuImg("rebase", "-u", "-b", "loop-b.qcow2", "-F", "qcow2", P + "bad/loop-a.qcow2");
        badImages.add(new BadImage(P + "bad/loop-b.qcow2", "b -> a -> b loop"));

        qemuImg("create", "-q", "-f", "qcow2", "-u", "-b", "missing.qcow2", "-F", "qcow2",
                P + "bad/missing-backing.qcow2", "4M");
        badImages.add(new BadImage(P + "bad/missing-backing.qcow2", "backing file missing"));
    }

    private interface Patch {
        void apply(Qcow2Patcher p);
    }

    private void bad(String name, String from, String about, Patch patch) {
        String rel = "bad/" + name + ".qcow2";
        copy(from, rel);
        try (Qcow2Patcher p = new Qcow2Patcher(file(rel))) {
            patch.apply(p);
        }
        badImages.add(new BadImage(P + rel, about));
    }

    // ---------------------------------------------------------------- helpers

    private void qcow2(String rel, String size, String opts, String about, String... writes) {
        qcow2(rel, size, opts, Set.of(), about, writes);
    }

    private void qcow2(String rel, String size, String opts, Set<Trait> traits, String about, String... writes) {
        file(rel);
        List<String> cmd = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        if (opts != null) {
            cmd.addAll(List.of("-o", opts));
        }
        cmd.add(P + rel);
        cmd.add(size);
        qemuImg(cmd.toArray(String[]::new));
        io(rel, null, writes);
        add(rel, traits, about);
    }

    private void overlay(String rel, String backing, String backingFormat, String size, String opts,
                         String about, String... writes) {
        file(rel);
        List<String> cmd = new ArrayList<>(List.of("create", "-q", "-f", "qcow2", "-b", backing, "-F", backingFormat));
        if (opts != null) {
            cmd.addAll(List.of("-o", opts));
        }
        cmd.add(P + rel);
        if (size != null) {
            cmd.add(size);
        }
        qemuImg(cmd.toArray(String[]::new));
        io(rel, null, writes);
        add(rel, EnumSet.of(Trait.CHAIN), about);
    }

    private void raw(String rel, String size, String about, String... writes) {
        file(rel);
        qemuImg("create", "-q", "-f", "raw", P + rel, size);
        io(rel, "raw", writes);
        add(rel, about);
    }

    private void convert(String rel, String from, Set<Trait> traits, String about, String... options) {
        file(rel);
        List<String> cmd = new ArrayList<>(List.of("convert", "-O", "qcow2"));
        cmd.addAll(List.of(options));
        cmd.add(P + from);
        cmd.add(P + rel);
        qemuImg(cmd.toArray(String[]::new));
        add(rel, traits, about);
    }

    private void pair(String a, String b, String about, String... options) {
        pairs.add(new ImagePair(P + a, P + b, List.of(options), about));
    }

    /** Runs qemu-io commands on an image (one process for all of them). */
    private static void io(String rel, String format, String... commands) {
        if (commands.length == 0) {
            return;
        }
        List<String> cmd = new ArrayList<>();
        if (format != null) {
            cmd.addAll(List.of("-f", format));
        }
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(P + rel);
        Tools.Result r = Tools.qemuIo(cmd.toArray(String[]::new)).orFail();
        if (r.stdout().contains("failed") || !r.stderr().isEmpty()) {
            fail("qemu-io " + cmd + " reported an error:\n" + r.stdout() + r.stderr());
        }
    }

    private static void qemuImg(String... args) {
        Tools.run(Tools.CWD, Duration.ofSeconds(60), Tools.prepend("qemu-img", args)).orFail();
    }

    private void add(String rel, String about) {
        add(rel, Set.of(), about);
    }

    private void add(String rel, Set<Trait> traits, String about) {
        Set<Trait> t = traits.isEmpty() ? EnumSet.noneOf(Trait.class) : EnumSet.copyOf(traits);
        entries.add(new Entry(P + rel, t, about));
    }

    /** The absolute path of corpus file {@code rel}, with its directory created. */
    private static Path file(String rel) {
        Path p = Corpus.dir().resolve(rel);
        try {
            Files.createDirectories(p.getParent());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /** Copies a corpus file keeping its holes (the bad images are copies of small good ones). */
    private static void copy(String from, String to) {
        Tools.run("cp", "--sparse=always", file(from).toString(), file(to).toString()).orFail();
    }

    private static void writeBytes(Path p, byte[] data) {
        try {
            Files.write(p, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
