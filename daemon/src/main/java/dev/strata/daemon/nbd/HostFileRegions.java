package dev.strata.daemon.nbd;

import dev.strata.daemon.export.Export;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Layer;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.Storage;
import io.netty.channel.DefaultFileRegion;
import io.netty.channel.FileRegion;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * The host files of one export, opened once (read-only) so that guest ranges stored verbatim in
 * them can be sent with {@code sendfile(2)} as Netty {@link FileRegion}s, never passing through
 * the JVM heap.
 *
 * <p>Which ranges qualify comes from block status, the same answer {@code qemu-img map} gives: an
 * extent with DATA, without ZERO or compression, with a valid host offset in a file of the chain
 * (a raw file, a qcow2 data cluster, an external data file). A range that runs past the end of
 * its host file (the last partial sector of a raw image, which reads as zeros) does not qualify
 * and is copied instead.
 *
 * <p>The channels are shared by all connections: sendfile and {@code transferTo} are positional.
 * Regions never close them; {@link #close} does, after the server has stopped.
 */
final class HostFileRegions implements AutoCloseable {
    private final Map<String, HostFile> files = new HashMap<>();

    private record HostFile(FileChannel channel, long size) {
    }

    HostFileRegions(Export export) {
        for (Layer layer : export.image().layers()) {
            FormatDriver driver = layer.driver();
            for (Storage s : driver.storages()) {
                if (s instanceof FileStorage fs && !files.containsKey(s.name())) {
                    try {
                        FileChannel ch = FileChannel.open(fs.path(), StandardOpenOption.READ);
                        files.put(s.name(), new HostFile(ch, ch.size()));
                    } catch (IOException e) {
                        // no zero-copy for this file; reads go through the engine
                    }
                }
            }
        }
    }

    /** A region for the first {@code length} bytes of {@code e}, or null when they must be copied. */
    FileRegion regionFor(Extent e, long guestOffset, long length) {
        if (!e.data() || e.zero() || e.compressed() || !e.hasOffset() || e.file() == null) {
            return null;
        }
        HostFile f = files.get(e.file());
        if (f == null) {
            return null;
        }
        long host = e.offset() + (guestOffset - e.start());
        if (host < 0 || host + length > f.size()) {
            return null;
        }
        return new SharedFileRegion(f.channel(), host, length);
    }

    @Override
    public void close() {
        for (HostFile f : files.values()) {
            try {
                f.channel().close();
            } catch (IOException ignored) {
                // read-only
            }
        }
        files.clear();
    }

    /** A region over a channel it does not own: releasing it leaves the channel open. */
    static final class SharedFileRegion extends DefaultFileRegion {
        SharedFileRegion(FileChannel channel, long position, long count) {
            super(channel, position, count);
        }

        @Override
        protected void deallocate() {
            // the channel belongs to HostFileRegions
        }
    }
}
