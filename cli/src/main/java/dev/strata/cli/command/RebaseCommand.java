package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.output.ProgressMeter;
import dev.strata.engine.StrataException;
import dev.strata.engine.ops.rebase.RebaseOp;
import dev.strata.engine.storage.CacheMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code strata-img rebase}: qemu-img 7.2's img_rebase. After getopt (7.2 has no {@code -c} for
 * rebase: it is an unrecognized option), "Expecting one image file name" and "Must specify
 * backing file (-b) or use unsafe mode (-u)" end the command before the progress meter starts
 * (-p, off with -q, 2 % steps, on stdout); then the 0 % line, the cache modes (-t, -T), and the
 * rebase itself (RebaseOp). The 100 % line follows the backing file change even when that
 * change failed; the meter's closing newline is printed on every path after it was set up.
 */
@Command(name = "rebase", description = "Change the backing file of an image.")
public final class RebaseCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;

    @Option(names = {"-h", "--help"}, description = "Print help and exit.")
    private boolean help;

    @Option(names = "-f", description = "Image format (probed when absent).")
    private String format;

    @Option(names = "-F", description = "Format of the new backing file.")
    private String backingFormat;

    @Option(names = "-b", description = "The new backing file (\"\" for none).")
    private String backingFile;

    @Option(names = "-u", description = "Unsafe: change the header only.")
    private boolean unsafe;

    @Option(names = "-p", description = "Show progress.")
    private boolean progress;

    @Option(names = "-t", description = "Cache mode of the image.")
    private String cache = "writeback";

    @Option(names = "-T", description = "Cache mode of the backing files.")
    private String sourceCache = "writeback";

    @Option(names = "-q", description = "Quiet: print nothing but errors.")
    private boolean quiet;

    @Option(names = {"-U", "--force-share"}, description = "Open the new backing file without locking.")
    private boolean forceShare;

    @Option(names = "--object", description = "Create a user-creatable object (secret).")
    private List<String> objects = new ArrayList<>();

    @Option(names = "--image-opts", description = "Treat the file name as an option string.")
    private boolean imageOpts;

    @Parameters(arity = "0..*", description = "The image file name.")
    private List<String> files = new ArrayList<>();

    public RebaseCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer onOption(String longestName, String value) {
        if ("--object".equals(longestName)) {
            return ObjectOptions.process(ctx, value);
        }
        return null;
    }

    @Override
    public Integer call() {
        if (files.size() != 1) {
            return Diagnostics.tryHelp(ctx, "Expecting one image file name");
        }
        if (!unsafe && backingFile == null) {
            return Diagnostics.tryHelp(ctx, "Must specify backing file (-b) or use unsafe mode (-u)");
        }
        ProgressMeter meter = new ProgressMeter(ctx.out(), progress && !quiet, 2.0f);
        try {
            meter.print(0f, 100);
            return run(meter);
        } finally {
            meter.end();
        }
    }

    private int run(ProgressMeter meter) {
        try {
            CacheMode mode = CacheMode.parse(cache);
            CacheMode sourceMode;
            try {
                sourceMode = CacheMode.parse(sourceCache);
            } catch (StrataException e) {
                throw new StrataException(e.kind(), "Invalid source cache option: " + sourceCache, e);
            }
            ImageOpts.Resolved image = ImageOpts.resolve(imageOpts, files.get(0), format);
            RebaseOp.Request request = new RebaseOp.Request(image.source(), unsafe, backingFile, backingFormat,
                    mode, sourceMode, forceShare);
            RebaseOp.run(request, new RebaseOp.Listener() {
                @Override
                public void warning(String text) {
                    ctx.err().print(text);
                    ctx.err().flush();
                }

                @Override
                public void progress(float percent) {
                    meter.print(percent, 100);
                }
            }, new StderrCheckListener(ctx));
        } catch (RebaseOp.BackingChangeFailed e) {
            ctx.error(e);
            meter.print(100f, 0);
            return 1;
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        meter.print(100f, 0);
        return 0;
    }
}
