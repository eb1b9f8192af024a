package dev.strata.daemon;

import java.nio.file.Path;

/**
 * Small images made by the real qemu-img and qemu-io, the same for every daemon test:
 * <ul>
 *   <li>{@code base.raw}: 64 MiB sparse raw, data at 0 (1 MiB), at 10 MiB (3 MiB) and in the last
 *       128 KiB, whose final sector is partial: the file is 64 MiB - 100 bytes, so its virtual
 *       size rounds up and the last 100 bytes read as zeros;</li>
 *   <li>{@code top.qcow2}: qcow2 over base.raw, with data at 512 KiB (1 MiB), a zero cluster at
 *       11 MiB, data at 40 MiB;</li>
 *   <li>{@code comp.qcow2}: the whole chain converted with compression.</li>
 * </ul>
 */
public final class TestImages {
    public final Path dir;
    public final Path base;
    public final Path top;
    public final Path comp;

    private TestImages(Path dir) {
        this.dir = dir;
        this.base = dir.resolve("base.raw");
        this.top = dir.resolve("top.qcow2");
        this.comp = dir.resolve("comp.qcow2");
    }

    public static TestImages create(Path dir) {
        Tools.require("qemu-img", "qemu-io");
        TestImages t = new TestImages(dir);
        Tools.run(dir, "qemu-img", "create", "-q", "-f", "raw", "base.raw", "64M").ok();
        Tools.run(dir, "qemu-io", "-f", "raw", "-c", "write -P 0xab 0 1M", "-c", "write -P 0x11 10M 3M",
                "-c", "write -P 0x22 66977792 128k", "base.raw").ok();
        Tools.run(dir, "truncate", "-s", "-100", "base.raw").ok();
        Tools.run(dir, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2").ok();
        Tools.run(dir, "qemu-io", "-f", "qcow2", "-c", "write -P 0xcd 512k 1M", "-c", "write -z 11M 64k",
                "-c", "write -P 7 40M 4k", "top.qcow2").ok();
        Tools.run(dir, "qemu-img", "convert", "-c", "-O", "qcow2", "top.qcow2", "comp.qcow2").ok();
        return t;
    }

    /** {@code qemu-img convert -O raw} of {@code image} into {@code out}. */
    public static Path convertRaw(Path image, Path out) {
        Tools.run(image.getParent(), "qemu-img", "convert", "-O", "raw", image.toString(), out.toString()).ok();
        return out;
    }
}
