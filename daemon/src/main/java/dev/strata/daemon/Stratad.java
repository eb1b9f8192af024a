package dev.strata.daemon;

import dev.strata.daemon.export.ExportSpec;
import dev.strata.daemon.fuse.FuseMount;
import dev.strata.engine.StrataException;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Model.UsageMessageSpec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.List;
import java.util.Properties;

/**
 * Entry point of {@code stratad}. Parses the command line ({@link StratadCommand}), starts a
 * {@link Daemon}, and waits for SIGTERM/SIGINT (exit 0) or, without {@code -t}, for the last
 * client to leave (exit 0). Any failure is one line, {@code stratad: <message>}, and exit 1;
 * stack traces only with {@code --debug} (or STRATA_DEBUG set).
 */
public final class Stratad {
    /** System property the launcher sets to the name it was invoked as. */
    public static final String PROGRAM_NAME_PROPERTY = "strata.progname";

    private Stratad() {
    }

    public static void main(String[] args) {
        String name = System.getProperty(PROGRAM_NAME_PROPERTY, "stratad");
        int code = run(args, name, System.out, System.err);
        System.out.flush();
        System.exit(code);
    }

    /** Runs the daemon to completion and returns the exit code. */
    static int run(String[] args, String name, PrintStream out, PrintStream err) {
        boolean envDebug = System.getenv("STRATA_DEBUG") != null;
        Log.configure(name, false, envDebug);
        StratadCommand cmd = new StratadCommand();
        CommandLine cl = new CommandLine(cmd);
        cl.setCommandName(name);
        cl.setUsageHelpWidth(100);
        cl.getCommandSpec().version(name + " " + version() + " (qemu-nbd 7.2 compatible command line)");
        describe(cl.getCommandSpec().usageMessage(), name);
        try {
            cl.parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            err.println(name + ": " + e.getMessage());
            err.println("Try '" + name + " --help' for more information.");
            return 1;
        }
        if (cmd.help) {
            cl.usage(new PrintWriter(out, true), Help.Ansi.OFF);
            return 0;
        }
        if (cmd.version) {
            out.println(cl.getCommandSpec().version()[0]);
            return 0;
        }
        Log.configure(name, cmd.verbose, cmd.debug || envDebug);
        try {
            DaemonSettings settings = settingsOf(cmd);
            if (cmd.fork && !ForkLauncher.isChild()) {
                return ForkLauncher.forkAndWait(args);
            }
            return serve(settings);
        } catch (StrataException | DaemonException | FuseMount.FuseMountException | IllegalArgumentException e) {
            Log.warn(e.getMessage(), e);
            return 1;
        } catch (RuntimeException e) {
            Log.warn(String.valueOf(e.getMessage() == null ? e.toString() : e.getMessage()), e);
            return 1;
        }
    }

    /** Checks the command line as a whole and resolves the defaults. */
    static DaemonSettings settingsOf(StratadCommand cmd) {
        if (!cmd.readOnly) {
            throw new DaemonException("writable exports are not available yet; add -r (--read-only) to serve read-only");
        }
        List<ExportSpec> specs = cmd.exportSpecs();
        if (specs.isEmpty()) {
            throw new DaemonException("expected an image FILE or --export name=N,file=F (see --help)");
        }
        if (cmd.shared < 1) {
            throw new DaemonException("Invalid shared device number '" + cmd.shared + "'");
        }
        if (cmd.port != null && (cmd.port < 0 || cmd.port > 65535)) {
            throw new DaemonException("Invalid port number '" + cmd.port + "'");
        }
        if (cmd.handshakeLimit < 1) {
            throw new DaemonException("Invalid handshake limit '" + cmd.handshakeLimit + "'");
        }
        if (cmd.fuseAllowOther && cmd.fuse == null) {
            throw new DaemonException("--fuse-allow-other needs --fuse MOUNTPOINT");
        }
        String bind = cmd.wantsTcp() ? (cmd.bind != null ? cmd.bind : "127.0.0.1") : null;
        int port = cmd.port != null ? cmd.port : DaemonSettings.DEFAULT_PORT;
        return new DaemonSettings(specs, cmd.forceShare, bind, port, cmd.wantsNbd() ? cmd.socket : null,
                cmd.shared, cmd.persistent, cmd.fuse, cmd.fuseAllowOther, cmd.pidFile,
                java.time.Duration.ofSeconds(cmd.handshakeLimit));
    }

    /** Starts the daemon, reports readiness (to a --fork parent), and waits for the end. */
    private static int serve(DaemonSettings settings) {
        SignalStop signals = SignalStop.install();
        Daemon daemon = Daemon.start(settings);
        Thread hook = new Thread(daemon::close, "stratad-exit");
        Runtime.getRuntime().addShutdownHook(hook);
        signals.attach(daemon);
        if (daemon.nbd() != null) {
            for (String url : daemon.nbd().urls()) {
                Log.info("serving " + url);
            }
        }
        ForkLauncher.notifyReadyIfChild();
        try {
            daemon.awaitStop();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        daemon.close();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException ignored) {
            // already shutting down
        }
        return 0;
    }

    private static void describe(UsageMessageSpec usage, String name) {
        usage.headerHeading("Usage: " + name + " -r [OPTIONS] FILE%n"
                + "  or:  " + name + " -r [OPTIONS] --export name=N,file=F [--export ...]%n");
        usage.synopsisHeading("");
        usage.customSynopsis("");
        usage.description("Serve disk-image chains read-only over NBD and as FUSE-mounted raw files.",
                "Options are qemu-nbd's, with the same meaning, except where noted.");
        usage.descriptionHeading("");
        usage.parameterListHeading("%nArguments:%n");
        usage.optionListHeading("%nOptions:%n");
        usage.footerHeading("%nConnecting:%n");
        usage.footer(
                "  default export over TCP:  nbd://127.0.0.1:10809/       with -x NAME: nbd://127.0.0.1:10809/NAME",
                "  over a Unix socket (-k):  nbd+unix:///?socket=PATH     with -x NAME: nbd+unix:///NAME?socket=PATH",
                "  e.g. nbdinfo nbd://127.0.0.1:10809/, qemu-img info nbd://127.0.0.1:10809/, nbdcopy ... out.raw",
                "",
                "Notes:",
                "  -b defaults to 127.0.0.1 (loopback only), not 0.0.0.0 as in qemu-nbd (-b 0.0.0.0: all).",
                "  -k alone listens on the Unix socket only (as qemu-nbd); with -p or -b as well, on both.",
                "  Without -t the server exits when the last client disconnects (as qemu-nbd), unless --fuse is used.",
                "  --fuse alone starts no NBD listener; add -k, -p or -b to serve NBD as well.",
                "  FUSE file names: the export's name; the default export (empty name) is named after its image,",
                "  with the extension replaced by .raw (disk.qcow2 -> disk.raw).",
                "  A stale mount left by a killed daemon is reported at start; clean it: fusermount -u MOUNTPOINT",
                "  SIGTERM and SIGINT close the connections, unmount FUSE and exit 0.");
    }

    static String version() {
        Properties p = new Properties();
        try (InputStream in = Stratad.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException ignored) {
            // fall through
        }
        return p.getProperty("version", "unknown");
    }
}
