package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.SizeParser;
import dev.strata.cli.output.ProgressMeter;
import dev.strata.engine.StrataException;
import dev.strata.engine.ops.commit.CommitListener;
import dev.strata.engine.ops.commit.CommitOp;
import dev.strata.engine.ops.commit.CommitSettings;
import dev.strata.engine.storage.CacheMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code strata-img commit}: qemu-img 7.2's img_commit. -r is checked while parsing (cvtnum
 * "rate limit"), --object too; then the single file name, the cache mode, the open, and the
 * commit. The progress meter (-p, off with -q, 1 % steps) starts once the image is open: its
 * first line is printed before the base is looked up and its closing newline on every path after
 * that. Prints "Image committed." unless {@code -q}.
 */
@Command(name = "commit", description = "Commit the changes recorded in an image to its backing file.")
public final class CommitCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;
    private long rateBytesPerSecond;

    @Option(names = {"-h", "--help"}, description = "Print help and exit.")
    private boolean help;

    @Option(names = "-f", description = "Image format (probed when absent).")
    private String format;

    @Option(names = "-t", description = "Cache mode of the image and its base.")
    private String cache = "writeback";

    @Option(names = "-b", description = "The base to commit into (anywhere down the chain; implies -d).")
    private String base;

    @Option(names = "-d", description = "Do not empty the image after committing.")
    private boolean drop;

    @Option(names = "-p", description = "Show progress.")
    private boolean progress;

    @Option(names = "-q", description = "Quiet: print nothing but errors.")
    private boolean quiet;

    @Option(names = "-r", description = "Rate limit in bytes per second.")
    private String rateLimit;

    @Option(names = "--object", description = "Create a user-creatable object (secret).")
    private List<String> objects = new ArrayList<>();

    @Option(names = "--image-opts", description = "Treat the file name as an option string.")
    private boolean imageOpts;

    @Parameters(arity = "0..*", description = "The image file name.")
    private List<String> files = new ArrayList<>();

    public CommitCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer onOption(String longestName, String value) {
        switch (longestName) {
            case "--object":
                return ObjectOptions.process(ctx, value);
            case "-r": {
                long v = SizeParser.cvtnum(ctx, "rate limit", value);
                if (v < 0) {
                    return 1;
                }
                rateBytesPerSecond = v;
                return null;
            }
            default:
                return null;
        }
    }

    @Override
    public Integer call() {
        if (files.size() != 1) {
            return Diagnostics.tryHelp(ctx, "Expecting one image file name");
        }
        CacheMode mode;
        ImageOpts.Resolved image;
        try {
            mode = CacheMode.parse(cache);
            image = ImageOpts.resolve(imageOpts, files.get(0), format);
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        ProgressMeter meter = new ProgressMeter(ctx.out(), progress && !quiet, 1.0f);
        boolean[] started = new boolean[1];
        CommitListener listener = new CommitListener() {
            @Override
            public void warning(String text) {
                ctx.err().print(text);
                ctx.err().flush();
            }

            @Override
            public void progress(float percent) {
                started[0] = true;
                meter.print(percent, 0);
            }
        };
        try {
            CommitOp.run(image.source(), new CommitSettings(base, drop || base != null, mode, rateBytesPerSecond),
                    listener, new StderrCheckListener(ctx));
        } catch (StrataException e) {
            if (started[0]) {
                meter.end();
            }
            ctx.error(e);
            return 1;
        }
        meter.end();
        if (!quiet) {
            ctx.out().println("Image committed.");
        }
        return 0;
    }
}
