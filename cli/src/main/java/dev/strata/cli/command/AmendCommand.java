package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.output.ProgressMeter;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.Qcow2Amender;
import dev.strata.engine.ops.amend.AmendOp;
import dev.strata.engine.ops.amend.AmendOptionCatalog;
import dev.strata.engine.ops.create.OptionListText;
import dev.strata.engine.storage.CacheMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code strata-img amend}: qemu-img 7.2's img_amend. {@code -o} lists are checked and joined
 * while parsing; then "Must specify options (-o)", the progress meter (-p, off with -q, 1 %
 * steps), option help for an explicit format, the single file name, the cache mode, the open,
 * option help for the probed format, and the amendment itself between the 0 % and 100 %
 * progress lines. The meter's closing newline is printed on every path after it was set up.
 */
@Command(name = "amend", description = "Change format-specific options of an image.")
public final class AmendCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;
    private String options;

    @Option(names = {"-h", "--help"}, description = "Print help and exit.")
    private boolean help;

    @Option(names = "-o", description = "Options to amend (name=value,...).")
    private List<String> optionArgs = new ArrayList<>();

    @Option(names = "-f", description = "Image format (probed when absent).")
    private String format;

    @Option(names = "-t", description = "Cache mode of the image.")
    private String cache = "writeback";

    @Option(names = "-p", description = "Show progress.")
    private boolean progress;

    @Option(names = "-q", description = "Quiet.")
    private boolean quiet;

    @Option(names = "--object", description = "Create a user-creatable object (secret).")
    private List<String> objects = new ArrayList<>();

    @Option(names = "--image-opts", description = "Treat the file name as an option string.")
    private boolean imageOpts;

    @Option(names = "--force", description = "Allow unsafe LUKS keyslot changes.")
    private boolean force;

    @Parameters(arity = "0..*", description = "The image file name.")
    private List<String> files = new ArrayList<>();

    public AmendCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer onOption(String longestName, String value) {
        switch (longestName) {
            case "--object":
                return ObjectOptions.process(ctx, value);
            case "-o":
                if (!OptionListText.isValid(value)) {
                    ctx.error("Invalid option list: " + value);
                    return 1;
                }
                options = OptionListText.accumulate(options, value);
                return null;
            default:
                return null;
        }
    }

    @Override
    public Integer call() {
        if (options == null) {
            return Diagnostics.tryHelp(ctx, "Must specify options (-o)");
        }
        ProgressMeter meter = new ProgressMeter(ctx.out(), progress && !quiet, 1.0f);
        try {
            return run(meter);
        } finally {
            meter.end();
        }
    }

    private int run(ProgressMeter meter) {
        boolean wantsHelp = OptionListText.hasHelp(options);
        if (format != null && wantsHelp) {
            return printHelp(format);
        }
        if (files.size() != 1) {
            ctx.error("Expecting one image file name");
            return 1;
        }
        CacheMode mode;
        try {
            mode = CacheMode.parse(cache);
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        AmendOp op;
        try {
            ImageOpts.Resolved image = ImageOpts.resolve(imageOpts, files.get(0), format);
            op = AmendOp.open(image.source(), mode, text -> {
                ctx.err().print(text);
                ctx.err().flush();
            }, new StderrCheckListener(ctx));
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        try (op) {
            if (wantsHelp) {
                return printHelp(op.formatName());
            }
            Qcow2Amender.Request request = op.prepare(options);
            meter.print(0f, 0);
            op.amend(request, force, (offset, total) -> meter.print(100f * offset / total, 0));
            meter.print(100f, 0);
            return 0;
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
    }

    private int printHelp(String fmt) {
        try {
            ctx.out().print(AmendOptionCatalog.help(fmt));
            return 0;
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
    }
}
