package dev.strata.cli;

import dev.strata.engine.format.FormatRegistry;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * strata-img's {@code --help} and {@code --version}: qemu-img's help text adapted to what
 * strata-img really offers (only the verbs registered in {@link Verbs}, only the formats in the
 * {@link FormatRegistry}), and a version line of our own.
 */
public final class HelpText {
    /** qemu-img 7.2's syntax line of each verb, in qemu-img's help order. */
    private static final Map<String, String> SYNTAX = new LinkedHashMap<>();

    static {
        SYNTAX.put("amend", "amend [--object objectdef] [--image-opts] [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename");
        SYNTAX.put("bench", "bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename");
        SYNTAX.put("bitmap", "bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [--object objectdef] [--image-opts | -f fmt] filename bitmap");
        SYNTAX.put("check", "check [--object objectdef] [--image-opts] [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache] [-U] filename");
        SYNTAX.put("commit", "commit [--object objectdef] [--image-opts] [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p] filename");
        SYNTAX.put("compare", "compare [--object objectdef] [--image-opts] [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1 filename2");
        SYNTAX.put("convert", "convert [--object objectdef] [--image-opts] [--target-image-opts] [--target-is-zero] [--bitmaps] [-U] [-C] [-c] [-p] [-q] [-n] [-f fmt] [-t cache] [-T src_cache] [-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [-l snapshot_param] [-S sparse_size] [-r rate_limit] [-m num_coroutines] [-W] [--salvage] filename [filename2 [...]] output_filename");
        SYNTAX.put("create", "create [--object objectdef] [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]");
        SYNTAX.put("dd", "dd [--image-opts] [-U] [-f fmt] [-O output_fmt] [bs=block_size] [count=blocks] [skip=blocks] if=input of=output");
        SYNTAX.put("info", "info [--object objectdef] [--image-opts] [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename");
        SYNTAX.put("map", "map [--object objectdef] [--image-opts] [-f fmt] [--start-offset=offset] [--max-length=len] [--output=ofmt] [-U] filename");
        SYNTAX.put("measure", "measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [--object objectdef] [--image-opts] [-f fmt] [-l snapshot_param] filename]");
        SYNTAX.put("snapshot", "snapshot [--object objectdef] [--image-opts] [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot] filename");
        SYNTAX.put("rebase", "rebase [--object objectdef] [--image-opts] [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u] -b backing_file [-F backing_fmt] filename");
        SYNTAX.put("resize", "resize [--object objectdef] [--image-opts] [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename [+ | -]size");
    }

    private HelpText() {
    }

    /** Our version, from the build. */
    public static String version() {
        return BuildData.load().version();
    }

    /** The -V/--version text. */
    public static void printVersion(CliContext ctx) {
        PrintStream out = ctx.out();
        out.println(ctx.programName() + " version " + version() + " (qemu-img 7.2 compatible)");
        out.println("Strata disk image utility: qemu-img's commands and output over the Strata engine");
    }

    /** The --help text. */
    public static void printHelp(CliContext ctx) {
        String p = ctx.programName();
        List<String> verbs = new ArrayList<>();
        for (String v : SYNTAX.keySet()) {
            if (Verbs.isKnown(v)) {
                verbs.add(v);
            }
        }
        for (String v : Verbs.names()) {
            if (!SYNTAX.containsKey(v)) {
                verbs.add(v);
            }
        }
        StringBuilder sb = new StringBuilder();
        sb.append(p).append(" version ").append(version()).append(" (qemu-img 7.2 compatible)\n");
        sb.append("usage: ").append(p).append(" [standard options] command [command options]\n");
        sb.append("Strata disk image utility, a drop-in for qemu-img\n\n");
        sb.append("    '-h', '--help'       display this help and exit\n");
        sb.append("    '-V', '--version'    output version information and exit\n");
        sb.append("    '-T', '--trace'      accepted for compatibility; tracing is not supported\n");
        sb.append("    '--debug'            show stack traces of internal errors\n\n");
        sb.append("Command syntax:\n");
        for (String v : verbs) {
            sb.append("  ").append(SYNTAX.getOrDefault(v, v)).append('\n');
        }
        sb.append("\nCommand parameters:\n");
        sb.append("  'filename' is a disk image filename\n");
        sb.append("  'objectdef' is a QEMU user creatable object definition; only 'secret'\n");
        sb.append("    objects are accepted\n");
        sb.append("  'fmt' is the disk image format. It is guessed automatically in most cases\n");
        sb.append("  'src_cache' is the cache mode used to read input disk images; it is\n");
        sb.append("    checked and accepted ('none', 'writeback', 'writethrough', 'directsync',\n");
        sb.append("    'unsafe') but has no effect\n");
        sb.append("  'offset' and 'len' are sizes in bytes. Optional suffixes\n");
        sb.append("    'k' or 'K' (kilobyte, 1024), 'M' (megabyte, 1024k), 'G' (gigabyte, 1024M),\n");
        sb.append("    'T' (terabyte, 1024G), 'P' (petabyte, 1024T) and 'E' (exabyte, 1024P)  are\n");
        sb.append("    supported. 'b' is ignored.\n");
        sb.append("  '-h' with or without a command shows this help and lists the supported formats\n");
        if (verbs.contains("compare")) {
            sb.append("  '-p' show progress of command (only certain commands)\n");
        }
        sb.append("  '-q' use Quiet mode - do not print any output (except errors)\n");
        sb.append("  '--output' takes the format in which the output must be done (human or json)\n");
        if (verbs.contains("check")) {
            sb.append("\nParameters to check subcommand:\n");
            sb.append("  '-r leaks' and '-r all' ask for repair as in qemu-img; a repair strata-img\n");
            sb.append("       cannot do yet is refused and the image is left unchanged.\n");
        }
        if (verbs.contains("compare")) {
            sb.append("\nParameters to compare subcommand:\n");
            sb.append("  '-f' first image format\n");
            sb.append("  '-F' second image format\n");
            sb.append("  '-s' run in Strict mode - fail on different image size or sector allocation\n");
        }
        sb.append("\nSupported formats:");
        FormatRegistry.standard().names().stream().sorted().forEach(n -> sb.append(' ').append(n));
        sb.append('\n');
        ctx.out().print(sb);
    }
}
