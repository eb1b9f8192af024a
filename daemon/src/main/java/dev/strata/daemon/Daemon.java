package dev.strata.daemon;

import dev.strata.daemon.export.ExportRegistry;
import dev.strata.daemon.fuse.FuseMount;
import dev.strata.daemon.nbd.NbdServer;
import dev.strata.daemon.nbd.NbdServerConfig;
import dev.strata.engine.image.ChainOpener;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One running stratad: the export registry, the NBD listeners and the FUSE mount, started in
 * that order and stopped in the reverse one.
 *
 * <p>Lifetime: {@link #awaitStop} returns when {@link #stop} was called (SIGTERM/SIGINT), or,
 * without {@code -t} and without a FUSE mount, when the last NBD client has disconnected after
 * at least one connected (qemu-nbd's rule). A FUSE mount counts as a permanent client: a daemon
 * with {@code --fuse} runs until it is told to stop.
 */
public final class Daemon implements AutoCloseable {
    private final DaemonSettings settings;
    private final ExportRegistry registry;
    private final CountDownLatch stopRequested = new CountDownLatch(1);
    private volatile NbdServer nbd;
    private volatile FuseMount fuse;
    private boolean closed;

    private Daemon(DaemonSettings settings, ExportRegistry registry) {
        this.settings = settings;
        this.registry = registry;
    }

    /**
     * Opens the exports and starts every configured face. On failure, whatever was started is
     * stopped again before the exception leaves.
     */
    public static Daemon start(DaemonSettings settings) {
        ExportRegistry registry = ExportRegistry.open(settings.exports(), ChainOpener.standard(), settings.forceShare(),
                Log.diagnostics());
        Daemon d = new Daemon(settings, registry);
        try {
            for (var e : registry.list()) {
                Log.info("export '" + e.name() + "': " + e.file() + ", " + e.size() + " bytes");
            }
            if (settings.servesNbd()) {
                boolean exitWhenIdle = !settings.persistent() && settings.fuseMountPoint() == null;
                NbdServerConfig cfg = new NbdServerConfig(settings.tcpBind(), settings.tcpPort(), settings.unixSocket(),
                        settings.maxClients(), settings.handshakeTimeout());
                d.nbd = NbdServer.start(cfg, registry, exitWhenIdle ? d::stop : null);
            }
            if (settings.fuseMountPoint() != null) {
                d.fuse = FuseMount.mount(settings.fuseMountPoint(), registry.list(), settings.fuseAllowOther());
            }
            if (settings.pidFile() != null) {
                PidFile.write(settings.pidFile());
            }
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        return d;
    }

    /** The registry being served. */
    public ExportRegistry registry() {
        return registry;
    }

    /** The NBD server, or null when none was asked for. */
    public NbdServer nbd() {
        return nbd;
    }

    /** The FUSE mount, or null. */
    public FuseMount fuse() {
        return fuse;
    }

    /** Asks {@link #awaitStop} to return; safe from any thread, any number of times. */
    public void stop() {
        stopRequested.countDown();
    }

    /** Blocks until {@link #stop} is called. */
    public void awaitStop() throws InterruptedException {
        stopRequested.await();
    }

    /** Waits at most {@code millis} for {@link #stop}; true if it was called. */
    public boolean awaitStop(long millis) throws InterruptedException {
        return stopRequested.await(millis, TimeUnit.MILLISECONDS);
    }

    /** Closes the connections and listeners, unmounts FUSE, closes the images. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        stop();
        if (nbd != null) {
            try {
                nbd.close();
            } catch (RuntimeException e) {
                Log.warn("closing the NBD server: " + e.getMessage(), e);
            }
        }
        if (fuse != null) {
            try {
                fuse.close();
            } catch (RuntimeException e) {
                Log.warn("unmounting FUSE: " + e.getMessage(), e);
            }
        }
        registry.close();
        if (settings.pidFile() != null) {
            PidFile.remove(settings.pidFile());
        }
    }
}
