package dev.strata.engine.ops.convert;

/*
 * Design note: qemu-img convert -C hands each data chunk to the block layer's copy_range, which
 * walks the source chain down to host files (raw and qcow2 know how: a qcow2 data cluster is a
 * range of its file, an unallocated one is looked up in the backing file, or zeros past its end;
 * zero clusters become zero writes; compressed or encrypted clusters and any other format cannot
 * be offloaded) and has the target place the bytes: a raw target takes them with
 * copy_file_range into its file, a qcow2 target allocates clusters and does the same into them.
 * The bytes are copied as they are: no zero detection, so zeros that the source stores are
 * stored in the target too. When a chunk cannot be offloaded (or the kernel refuses), qemu turns
 * offloading off for the rest of the convert and copies that chunk the ordinary way.
 *
 * Here a chunk is first planned (every piece of it resolved to a host range or zeros) and only
 * then copied, so a chunk that cannot be offloaded writes nothing before the ordinary path takes
 * over. Host-to-host pieces go through copy_file_range when the target is raw; a qcow2 target
 * gets the same bytes through its write path (allocation is the same as qemu's copy_range_to);
 * the kernel's copy into qcow2 clusters would need the writer's allocation without its write.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.Mapping;
import dev.strata.engine.image.Image;
import dev.strata.engine.image.Layer;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.HostRangeCopy;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** Copy offloading of convert's data chunks (qemu-img convert -C). Thread-safe. */
final class CopyOffload implements AutoCloseable {
    private final ConvertSources sources;
    private final Image target;
    private final HostRangeCopy host = new HostRangeCopy();
    private volatile boolean enabled = true;

    CopyOffload(ConvertSources sources, Image target) {
        this.sources = sources;
        this.target = target;
    }

    /** One piece of a chunk: host bytes to copy, or zeros to write. */
    private record Piece(FileStorage from, long fromOffset, long targetOffset, long length) {
        boolean zero() {
            return from == null;
        }
    }

    /** Whether offloading is still on. */
    boolean enabled() {
        return enabled;
    }

    /**
     * Copies the data chunk {@code [sector, sector+n)} by offloading.
     *
     * @param buf a buffer of at least the chunk's size, for targets that take the bytes through
     *            their write path
     * @return true when done; false when the chunk could not be offloaded, which turns
     *         offloading off: the caller copies the chunk the ordinary way
     */
    boolean copy(long sector, int n, ByteBuffer buf) {
        if (!enabled) {
            return false;
        }
        List<Piece> plan = plan(sector * ZeroScan.SECTOR, (long) n * ZeroScan.SECTOR);
        if (plan == null || !perform(plan, buf)) {
            enabled = false;
            return false;
        }
        return true;
    }

    private List<Piece> plan(long offset, long length) {
        List<Piece> plan = new ArrayList<>();
        long pos = offset;
        long end = offset + length;
        while (pos < end) {
            int part = sources.partAt(pos);
            long inPart = pos - sources.start(part);
            long n = Math.min(end - pos, sources.size(part) - inPart);
            if (!resolve(sources.image(part).layers(), 0, inPart, n, pos, plan)) {
                return null;
            }
            pos += n;
        }
        return plan;
    }

    /** Resolves guest range {@code [offset, offset+length)} of layer {@code index} down the chain. */
    private static boolean resolve(List<Layer> layers, int index, long offset, long length, long targetOffset,
                                   List<Piece> plan) {
        FormatDriver driver = layers.get(index).driver();
        if (!canOffloadFrom(driver.formatName())) {
            return false;
        }
        long pos = offset;
        long left = length;
        long at = targetOffset;
        while (left > 0) {
            Mapping m = driver.map(pos, left);
            long len = m instanceof Mapping.Eof ? left : m.length();
            if (m instanceof Mapping.Raw raw) {
                if (!(raw.storage() instanceof FileStorage file)) {
                    return false;
                }
                plan.add(new Piece(file, raw.hostOffset(), at, len));
            } else if (m instanceof Mapping.Coded) {
                return false;
            } else if (m instanceof Mapping.Unallocated && index + 1 < layers.size()) {
                long backingSize = layers.get(index + 1).driver().virtualSize();
                if (pos >= backingSize) {
                    plan.add(new Piece(null, 0, at, len));
                } else {
                    len = Math.min(len, backingSize - pos);
                    if (!resolve(layers, index + 1, pos, len, at, plan)) {
                        return false;
                    }
                }
            } else {
                plan.add(new Piece(null, 0, at, len));
            }
            pos += len;
            left -= len;
            at += len;
        }
        return true;
    }

    /** The formats whose drivers in qemu can be the source of a copy_range. */
    private static boolean canOffloadFrom(String format) {
        return format.equals("raw") || format.equals("qcow2");
    }

    private boolean perform(List<Piece> plan, ByteBuffer buf) {
        FormatDriver top = target.layers().get(0).driver();
        boolean rawTarget = top.formatName().equals("raw");
        if (!rawTarget && !top.formatName().equals("qcow2")) {
            return false;
        }
        try {
            for (Piece p : plan) {
                if (p.zero()) {
                    target.writeZeroes(p.targetOffset(), p.length(), false);
                } else if (rawTarget) {
                    if (!copyToRaw(top, p)) {
                        return false;
                    }
                } else {
                    ByteBuffer bytes = buf.clear().limit((int) p.length()).slice();
                    p.from().read(bytes, p.fromOffset());
                    target.write(bytes.flip(), p.targetOffset());
                }
            }
        } catch (StrataException e) {
            // qemu falls back to the ordinary copy on any copy_range error; a real I/O error
            // then shows there.
            return false;
        }
        return true;
    }

    private boolean copyToRaw(FormatDriver raw, Piece p) {
        long done = 0;
        while (done < p.length()) {
            Mapping m = raw.map(p.targetOffset() + done, p.length() - done);
            if (!(m instanceof Mapping.Raw dst) || !(dst.storage() instanceof FileStorage file)) {
                return false;
            }
            int err = host.copy(p.from(), p.fromOffset() + done, file, dst.hostOffset(), dst.length());
            if (err != HostRangeCopy.OK) {
                return false;
            }
            done += dst.length();
        }
        return true;
    }

    @Override
    public void close() {
        host.close();
    }
}
