package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.TrailingOperand;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.ops.resize.ResizeOp;
import dev.strata.engine.ops.resize.ResizeSize;
import dev.strata.engine.ops.resize.ShrinkNotAllowed;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code strata-img resize}: qemu-img 7.2's img_resize. The size (the last argument) is taken off
 * before getopt, so "-1G" is a size; --object and --preallocation are checked while parsing; the
 * size is parsed before the image is opened. Prints "Image resized." unless {@code -q}.
 */
@Command(name = "resize", description = "Change the virtual size of an image.")
public final class ResizeCommand implements Callable<Integer>, OptionHook, TrailingOperand {
    private final CliContext ctx;
    private String sizeArgument;
    private Preallocation preallocation = Preallocation.OFF;

    @Option(names = {"-h", "--help"}, description = "Print help and exit.")
    private boolean help;

    @Option(names = "-f", description = "Image format (probed when absent).")
    private String format;

    @Option(names = "-q", description = "Quiet: print nothing but errors.")
    private boolean quiet;

    @Option(names = "--object", description = "Create a user-creatable object (secret).")
    private List<String> objects = new ArrayList<>();

    @Option(names = "--image-opts", description = "Treat the file name as an option string.")
    private boolean imageOpts;

    @Option(names = "--preallocation", description = "off, metadata, falloc or full.")
    private String preallocationName;

    @Option(names = "--shrink", description = "Allow the image to shrink.")
    private boolean shrink;

    @Parameters(arity = "0..*", description = "The image file name.")
    private List<String> files = new ArrayList<>();

    public ResizeCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public String[] takeTrailingOperand(String[] args) {
        if (args.length < 2) {
            Diagnostics.tryHelp(ctx, "Not enough arguments");
            return null;
        }
        sizeArgument = args[args.length - 1];
        return Arrays.copyOf(args, args.length - 1);
    }

    @Override
    public Integer onOption(String longestName, String value) {
        switch (longestName) {
            case "--object":
                return ObjectOptions.process(ctx, value);
            case "--preallocation":
                for (Preallocation p : Preallocation.values()) {
                    if (p.qemuName().equals(value)) {
                        preallocation = p;
                        return null;
                    }
                }
                ctx.error("Invalid preallocation mode '" + value + "'");
                return 1;
            default:
                return null;
        }
    }

    @Override
    public Integer call() {
        if (files.size() != 1) {
            return Diagnostics.tryHelp(ctx, "Expecting image file name and size");
        }
        try {
            ResizeSize size = ResizeSize.parse(sizeArgument);
            ImageOpts.Resolved image = ImageOpts.resolve(imageOpts, files.get(0), format);
            ResizeOp.run(image.source(), size, preallocation, shrink, text -> {
                ctx.err().print(text);
                ctx.err().flush();
            }, new StderrCheckListener(ctx));
        } catch (ShrinkNotAllowed e) {
            ctx.error(e.getMessage());
            ctx.error("warning: " + e.warning());
            return 1;
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        if (!quiet) {
            ctx.out().println("Image resized.");
        }
        return 0;
    }
}
