package dev.strata.cli;

import dev.strata.cli.nbd.NbdStorageResolver;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.StorageResolver;

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.Charset;

/**
 * Entry point of {@code strata-img}, the qemu-img drop-in. {@link #run} is the in-process entry
 * that tests use; {@link #main} is what the launcher calls.
 *
 * <p>Subcommand classes live in {@code dev.strata.cli.command}, one per qemu-img verb; the
 * dispatcher parses the global options and hands the rest to the verb.
 */
public final class StrataImg {
    /** System property the launcher sets to the name it was invoked as. */
    public static final String PROGRAM_NAME_PROPERTY = "strata.progname";

    private static final StorageResolver RESOLVER = new NbdStorageResolver();

    private StrataImg() {
    }

    public static void main(String[] args) {
        String name = System.getProperty(PROGRAM_NAME_PROPERTY, "strata-img");
        // "--debug" before the verb is a global option the dispatcher handles; this is the other way.
        boolean debug = System.getenv("STRATA_DEBUG") != null;
        // Native host queries (SEEK_DATA, st_blocks) bind on a background thread meanwhile; not
        // for --version, --help or a bad command line, which never reach a file (15 ms of CPU).
        if (args.length > 0 && Verbs.isKnown(args[0])) {
            FileStorage.prepareHostQueries();
        }
        // System.out flushes at every newline; map prints one line per extent, so a plain
        // buffered stream saves a write(2) per line. Errors flush it first (CliContext.error).
        PrintStream out = new PrintStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16),
                false, Charset.defaultCharset());
        int code = run(args, new CliContext(out, System.err, name, debug));
        out.flush();
        System.exit(code);
    }

    /** Runs one command line with the given streams and returns the exit code. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        return run(args, new CliContext(out, err, "strata-img", false));
    }

    /** Runs one command line in {@code ctx} and returns the exit code (qemu-img's codes). */
    public static int run(String[] args, CliContext ctx) {
        // qemu's protocol prefixes: nbd:// and nbd+unix:// names open NBD exports, others files.
        StorageResolver.install(RESOLVER);
        return Dispatcher.dispatch(args, ctx);
    }
}
