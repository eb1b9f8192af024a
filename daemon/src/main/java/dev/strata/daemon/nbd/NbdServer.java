package dev.strata.daemon.nbd;

import dev.strata.daemon.DaemonException;
import dev.strata.daemon.export.ExportRegistry;

import java.util.List;

/** Placeholder until the NBD server lands. */
public final class NbdServer implements AutoCloseable {
    private NbdServer() {
    }

    public static NbdServer start(NbdServerConfig config, ExportRegistry registry, Runnable onIdle) {
        throw new DaemonException("the NBD server is not available yet; use --fuse MOUNTPOINT alone");
    }

    public List<String> urls() {
        return List.of();
    }

    @Override
    public void close() {
    }
}
