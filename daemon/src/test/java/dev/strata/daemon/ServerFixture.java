package dev.strata.daemon;

import dev.strata.daemon.export.ExportSpec;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A {@link Daemon} started in-process on a Unix socket in a temporary directory, serving the
 * {@link TestImages}: the default export is the qcow2 chain, {@code base} the raw file,
 * {@code comp} the compressed qcow2; all with {@code qemu:allocation-depth}. Persistent, up to
 * 16 clients, handshake limit 2 s.
 */
public final class ServerFixture implements AutoCloseable {
    public final TestImages images;
    public final Path socket;
    public final Daemon daemon;

    public ServerFixture(TestImages images) {
        this.images = images;
        this.socket = images.dir.resolve("stratad.sock");
        List<ExportSpec> specs = List.of(
                new ExportSpec("", images.top.toString(), null, "the chain", true),
                new ExportSpec("base", images.base.toString(), "raw", "", true),
                new ExportSpec("comp", images.comp.toString(), "qcow2", "compressed", true));
        DaemonSettings s = new DaemonSettings(specs, false, null, 0, socket, 16, true, null, false, null,
                Duration.ofSeconds(2));
        this.daemon = Daemon.start(s);
    }

    /** {@code nbd+unix:///NAME?socket=PATH}. */
    public String url(String export) {
        return "nbd+unix:///" + export + "?socket=" + socket;
    }

    @Override
    public void close() {
        daemon.close();
    }
}
