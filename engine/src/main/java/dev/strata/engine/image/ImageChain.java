package dev.strata.engine.image;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.BackingReader;
import dev.strata.engine.format.CompressedUnit;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.LayerWriter;
import dev.strata.engine.format.Mapping;
import dev.strata.engine.storage.Storage;
import dev.strata.engine.storage.Zeros;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;

/**
 * {@link Image} over a chain of {@link Layer}s, top first. Reads walk each layer's
 * {@link Mapping}s and fall through to the backing layer for unallocated ranges; ranges past a
 * shorter backing layer read as zeros. Block status reproduces QEMU's per-layer status
 * (bdrv_co_block_status with want_zero) and qemu-img map's walk down the chain.
 *
 * <p>Writes go to the top layer's {@link LayerWriter}, with the layers below as the source of
 * copy-on-write. Holds no locks itself: drivers and writers are thread-safe.
 */
public final class ImageChain implements Image {

    private final List<Layer> layers;

    /** A chain over {@code layers}, top first; the chain owns and closes them. */
    public ImageChain(List<Layer> layers) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("a chain needs at least one layer");
        }
        this.layers = List.copyOf(layers);
    }

    @Override
    public long size() {
        return layers.get(0).driver().virtualSize();
    }

    @Override
    public List<Layer> layers() {
        return layers;
    }

    @Override
    public Capabilities capabilities() {
        if (writer().isEmpty()) {
            return Capabilities.readOnly();
        }
        // Writers serialise their metadata in-process; a second connection sees the same engine.
        return new Capabilities(true, true, true, true, true);
    }

    /** The top layer's writer, present when the chain was opened read-write. */
    private Optional<LayerWriter> writer() {
        return layers.get(0).driver().writer();
    }

    /**
     * The top layer's writer, or EPERM. Here and in {@link #flush} and {@link #compressedUnit}
     * plain code rather than Optional's lambdas: every write passes here, and a lambda is linked
     * at its first use, at start-up (see HostFiles.Binding).
     */
    private LayerWriter requireWriter() {
        Optional<LayerWriter> w = writer();
        if (w.isEmpty()) {
            throw new StrataException(ErrorKind.EPERM,
                    "Could not write to '" + layers.get(0).fileName() + "': image is read-only");
        }
        return w.get();
    }

    /** Reads of the layers below the top one: what copy-on-write copies from. */
    private BackingReader below() {
        if (layers.size() < 2) {
            return BackingReader.NONE;
        }
        return new BackingReader() {
            @Override
            public void read(ByteBuffer dst, long offset) {
                readLayer(1, dst, offset);
            }

            @Override
            public boolean readsAsZeros(long offset, long length) {
                return zeroFrom(1, offset, length);
            }
        };
    }

    /** Whether layers {@code depth} and below read as zeros by block status over the range. */
    private boolean zeroFrom(int depth, long offset, long length) {
        long end = offset + length;
        long pos = offset;
        while (pos < end) {
            long bytes = end - pos;
            for (int d = depth; ; d++) {
                LayerStatus st = layerStatus(d, pos, bytes);
                bytes = st.length();
                if (st.data()) {
                    return false;
                }
                if (st.zero()) {
                    break;
                }
                if (d + 1 >= layers.size()) {
                    return false;
                }
            }
            pos += bytes;
        }
        return true;
    }

    @Override
    public void write(ByteBuffer src, long offset) {
        LayerWriter w = requireWriter();
        checkRange(offset, src.remaining());
        if (src.hasRemaining()) {
            w.write(src, offset, below());
        }
    }

    @Override
    public void writeZeroes(long offset, long length, boolean mayUnmap) {
        LayerWriter w = requireWriter();
        checkRange(offset, length);
        if (length > 0) {
            w.writeZeroes(offset, length, mayUnmap, below());
        }
    }

    @Override
    public void discard(long offset, long length) {
        LayerWriter w = requireWriter();
        checkRange(offset, length);
        if (length > 0) {
            w.discard(offset, length);
        }
    }

    @Override
    public int compressedUnit() {
        Optional<LayerWriter> w = writer();
        return w.isPresent() ? w.get().compressedUnit() : 0;
    }

    @Override
    public CompressedUnit compress(ByteBuffer src, long offset) {
        LayerWriter w = requireWriter();
        int unit = w.compressedUnit();
        if (unit == 0) {
            throw StrataException.unsupported("Compression is not supported for this drive "
                    + layers.get(0).fileName());
        }
        checkRange(offset, src.remaining());
        if (offset % unit != 0 || src.remaining() > unit
                || (src.remaining() < unit && offset + src.remaining() != size())) {
            throw StrataException.invalid("compressed write of " + src.remaining() + " bytes at offset " + offset
                    + " is not one aligned unit of " + unit + " bytes");
        }
        return w.compress(src, offset);
    }

    @Override
    public void writeCompressed(CompressedUnit unit) {
        requireWriter().writeCompressed(unit);
    }

    @Override
    public void flush() {
        Optional<LayerWriter> w = writer();
        if (w.isPresent()) {
            w.get().flush();
        }
    }

    @Override
    public void read(ByteBuffer dst, long offset) {
        checkRange(offset, dst.remaining());
        readLayer(0, dst, offset);
    }

    /** Fills {@code dst} with the bytes layer {@code index} (and those below it) hold at {@code offset}. */
    private void readLayer(int index, ByteBuffer dst, long offset) {
        FormatDriver driver = layers.get(index).driver();
        long layerSize = driver.virtualSize();
        long pos = offset;
        while (dst.hasRemaining()) {
            if (pos >= layerSize) {
                Zeros.fill(dst);
                return;
            }
            int want = (int) Math.min(dst.remaining(), layerSize - pos);
            Mapping m = driver.map(pos, want);
            int n = (int) Math.min(m.length(), want);
            if (n <= 0) {
                throw StrataException.io("format driver returned an empty mapping at offset " + pos);
            }
            ByteBuffer part = dst.slice(dst.position(), n);
            if (m instanceof Mapping.Raw raw) {
                raw.storage().read(part, raw.hostOffset());
            } else if (m instanceof Mapping.Coded coded) {
                coded.reader().read(part, 0);
            } else if (m instanceof Mapping.Unallocated && index + 1 < layers.size()) {
                readLayer(index + 1, part, pos);
            } else {
                Zeros.fill(part);
            }
            dst.position(dst.position() + n);
            pos += n;
        }
    }

    @Override
    public Extent blockStatusAt(long offset, long maxLength) {
        long size = size();
        if (offset < 0 || offset >= size || maxLength <= 0) {
            throw new StrataException(ErrorKind.EINVAL, "block status request outside the image at offset " + offset);
        }
        long bytes = Math.min(maxLength, size - offset);
        for (int depth = 0; ; depth++) {
            LayerStatus st = layerStatus(depth, offset, bytes);
            bytes = st.length();
            if (st.data() || st.zero() || depth + 1 >= layers.size()) {
                return st.toExtent(offset, depth);
            }
        }
    }

    @Override
    public List<Extent> blockStatus(long offset, long length) {
        long end = Math.min(size(), offset + length);
        ExtentList list = new ExtentList();
        long pos = offset;
        while (pos < end) {
            Extent e = blockStatusAt(pos, end - pos);
            list.add(e);
            pos = e.end();
        }
        return list.toList();
    }

    /**
     * One layer's status at {@code offset}, as QEMU's bdrv_co_block_status(want_zero=true)
     * answers it for that layer alone: the driver's mapping turned into flags, host holes looked
     * up where the mapping asks for it, and ZERO synthesised for unallocated ranges with no
     * backing layer or past the end of a shorter one (without ALLOCATED).
     */
    private LayerStatus layerStatus(int index, long offset, long bytes) {
        FormatDriver driver = layers.get(index).driver();
        long layerSize = driver.virtualSize();
        if (offset >= layerSize) {
            // A backing layer shorter than the overlay; the overlay synthesised ZERO before
            // asking, so this is only reached through a driver that maps past its own size.
            return new LayerStatus(bytes, false, true, false, false, -1, null);
        }
        Mapping m = driver.map(offset, Math.min(bytes, layerSize - offset));
        long len = Math.min(m.length(), bytes);
        if (m instanceof Mapping.Raw raw) {
            return rawStatus(raw, len);
        } else if (m instanceof Mapping.Coded coded) {
            return new LayerStatus(len, true, false, true, coded.compressed(), -1, null);
        } else if (m instanceof Mapping.Zero zero) {
            return zero.storage() == null
                    ? new LayerStatus(len, false, true, true, false, -1, null)
                    : new LayerStatus(len, false, true, true, false, zero.hostOffset(), zero.storage().name());
        } else if (m instanceof Mapping.Unallocated unallocated) {
            return unallocatedStatus(index, offset, len, unallocated);
        }
        return new LayerStatus(bytes, false, true, false, false, -1, null);
    }

    private static LayerStatus rawStatus(Mapping.Raw raw, long len) {
        Storage host = raw.storage();
        String name = host.name();
        switch (raw.holes()) {
            case IGNORE:
                return new LayerStatus(len, true, false, true, false, raw.hostOffset(), name);
            case PASSTHROUGH: {
                Storage.Allocation a = host.allocationAt(raw.hostOffset(), len);
                long n = Math.min(len, a.length());
                return new LayerStatus(n, a.data(), a.zero(), true, false, raw.hostOffset(), name);
            }
            case MARK_ZERO: {
                Storage.Allocation a = host.allocationAt(raw.hostOffset(), len);
                long n = Math.min(len, a.length());
                return new LayerStatus(n, true, a.zero(), true, false, raw.hostOffset(), name);
            }
            default:
                throw new IllegalStateException(raw.holes().name());
        }
    }

    private LayerStatus unallocatedStatus(int index, long offset, long len, Mapping.Unallocated m) {
        FormatDriver driver = layers.get(index).driver();
        // qcow2 UNALLOCATED_ALLOC: OFFSET_VALID without DATA/ZERO; shown only if the walk stops here.
        long off = m.storage() == null ? -1 : m.hostOffset();
        String file = m.storage() == null ? null : m.storage().name();
        if (!driver.supportsBacking()) {
            return new LayerStatus(len, false, false, false, false, off, file);
        }
        boolean hasBackingLayer = index + 1 < layers.size();
        if (!hasBackingLayer || offset >= layers.get(index + 1).driver().virtualSize()) {
            return new LayerStatus(len, false, true, false, false, off, file);
        }
        return new LayerStatus(len, false, false, false, false, off, file);
    }

    private void checkRange(long offset, long length) {
        long size = size();
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            throw new StrataException(ErrorKind.EINVAL,
                    "request out of range: offset " + offset + ", length " + length + ", image size " + size);
        }
    }

    /** Closes every layer; drivers flush what their writers still cache. */
    @Override
    public void close() {
        RuntimeException first = null;
        for (Layer l : layers) {
            try {
                l.driver().close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** One layer's answer: flags as QEMU's DATA/ZERO/ALLOCATED, plus the host location. */
    private record LayerStatus(long length, boolean data, boolean zero, boolean allocated, boolean compressed,
                               long offset, String file) {
        Extent toExtent(long start, int depth) {
            return new Extent(start, length, depth, allocated, zero, data, compressed, offset, file);
        }
    }
}
