package dev.strata.daemon;

import dev.strata.daemon.export.ExportSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line of {@code stratad}: qemu-nbd's flags for the one-export case, with qemu-nbd's
 * meaning, plus {@code --export} for several exports and {@code --fuse} for a FUSE view.
 * Deliberate differences from qemu-nbd, all in the help text:
 * <ul>
 *   <li>{@code -b} defaults to 127.0.0.1, not 0.0.0.0: nothing is exposed to the network unless
 *       asked for.</li>
 *   <li>{@code -r} is required: writable exports do not exist yet.</li>
 *   <li>{@code -k} alone serves the Unix socket only (as qemu-nbd); {@code -k} with an explicit
 *       {@code -p} or {@code -b} serves both.</li>
 *   <li>{@code --fuse} alone serves no NBD listener; add {@code -k}, {@code -p} or {@code -b} for
 *       both. A FUSE mount keeps the daemon running as {@code -t} does.</li>
 * </ul>
 */
@Command(name = "stratad", sortOptions = false, usageHelpAutoWidth = false)
final class StratadCommand {

    @Parameters(index = "0", arity = "0..1", paramLabel = "FILE", description = "image to export (any format the engine opens; backing chain included)")
    String file;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "display this help and exit")
    boolean help;

    @Option(names = {"-V", "--version"}, versionHelp = true, description = "output version information and exit")
    boolean version;

    @Option(names = {"-p", "--port"}, paramLabel = "PORT", description = "port to listen on (default 10809)")
    Integer port;

    @Option(names = {"-b", "--bind"}, paramLabel = "IFACE", description = "address to bind to (default 127.0.0.1; qemu-nbd's default is 0.0.0.0)")
    String bind;

    @Option(names = {"-k", "--socket"}, paramLabel = "PATH", description = "listen on a Unix socket at PATH (alone: no TCP listener)")
    Path socket;

    @Option(names = {"-e", "--shared"}, paramLabel = "NUM", defaultValue = "1", description = "serve at most NUM clients at once; more are refused (default 1)")
    int shared;

    @Option(names = {"-t", "--persistent"}, description = "don't exit on the last connection")
    boolean persistent;

    @Option(names = {"-v", "--verbose"}, description = "log connections and setup on stderr")
    boolean verbose;

    @Option(names = {"-x", "--export-name"}, paramLabel = "NAME", defaultValue = "", description = "name of the export of FILE (default: empty, the default export)")
    String exportName;

    @Option(names = {"-D", "--description"}, paramLabel = "TEXT", description = "human-readable description of the export of FILE")
    String description;

    @Option(names = {"-A", "--allocation-depth"}, description = "offer the qemu:allocation-depth metadata context")
    boolean allocationDepth;

    @Option(names = {"-B", "--bitmap"}, paramLabel = "NAME",
            description = "offer the persistent bitmap NAME of FILE's chain as the qemu:dirty-bitmap:NAME metadata context (repeatable)")
    List<String> bitmaps = new ArrayList<>();

    @Option(names = {"-f", "--format"}, paramLabel = "FORMAT", description = "image format of FILE (raw, qcow2, ...; default: probed)")
    String format;

    @Option(names = {"-r", "--read-only"}, description = "export read-only (required: writable exports are not available yet)")
    boolean readOnly;

    @Option(names = {"-U", "--force-share"}, description = "open the images without taking image locks")
    boolean forceShare;

    @Option(names = "--export", paramLabel = "name=N,file=F[,format=FMT][,description=TEXT][,allocation-depth=on|off]",
            description = "one more export (repeatable); ',,' is a literal comma")
    List<String> exports = new ArrayList<>();

    @Option(names = "--fuse", paramLabel = "MOUNTPOINT", description = "show each export as a read-only file in MOUNTPOINT")
    Path fuse;

    @Option(names = "--fuse-allow-other", description = "let other users read the FUSE files (FUSE's allow_other)")
    boolean fuseAllowOther;

    @Option(names = "--fork", description = "fork off the server and exit once it is ready")
    boolean fork;

    @Option(names = "--pid-file", paramLabel = "PATH", description = "write the server's process ID to PATH")
    Path pidFile;

    @Option(names = "--handshake-limit", paramLabel = "SECONDS", defaultValue = "10",
            description = "drop clients that have not finished the handshake after SECONDS (default 10, as qemu-nbd)")
    int handshakeLimit;

    @Option(names = "--debug", description = "print stack traces with errors")
    boolean debug;

    /** The exports asked for: FILE (with -x/-D/-f/-A/-B) first, then each --export. */
    List<ExportSpec> exportSpecs() {
        List<ExportSpec> specs = new ArrayList<>();
        if (file != null) {
            specs.add(new ExportSpec(exportName, file, format, description, allocationDepth, bitmaps));
        } else if (!bitmaps.isEmpty()) {
            throw new DaemonException("-B (--bitmap) needs an image FILE: it names a bitmap of FILE");
        }
        for (String e : exports) {
            specs.add(ExportSpec.parse(e, allocationDepth));
        }
        return specs;
    }

    /** Whether any NBD listener was asked for (or implied: no --fuse). */
    boolean wantsNbd() {
        return fuse == null || socket != null || port != null || bind != null;
    }

    /** Whether TCP is served: always unless -k alone (or --fuse alone). */
    boolean wantsTcp() {
        if (!wantsNbd()) {
            return false;
        }
        return socket == null || port != null || bind != null;
    }
}
