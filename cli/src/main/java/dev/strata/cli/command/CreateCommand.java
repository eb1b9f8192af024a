package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.SizeParser;
import dev.strata.engine.StrataException;
import dev.strata.engine.ops.create.CreateFailure;
import dev.strata.engine.ops.create.CreateOperation;
import dev.strata.engine.ops.create.CreatePlan;
import dev.strata.engine.ops.create.OptionListText;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code create}: qemu-img 7.2's {@code img_create}. Options are checked as getopt returns them
 * ({@code -o} lists, {@code --object}); then {@code -o help}, the file name, the size argument,
 * and {@link CreateOperation} for everything else. Errors of the create itself are printed as
 * "strata-img: FILE: message", followed by qemu's hint when it has one.
 */
@Command(name = "create")
public final class CreateCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;

    @Option(names = {"-h", "--help"})
    boolean help;

    @Option(names = "--object")
    List<String> objects;

    @Option(names = "-F")
    String backingFormat;

    @Option(names = "-b")
    String backingFile;

    @Option(names = "-f")
    String format = "raw";

    @Option(names = "-o")
    List<String> optionArgs;

    @Option(names = "-q")
    boolean quiet;

    @Option(names = "-u")
    boolean unsafe;

    @Parameters(arity = "0..*")
    List<String> operands;

    private String options;

    public CreateCommand(CliContext ctx) {
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
        List<String> args = operands == null ? List.of() : operands;
        String fileName = args.isEmpty() ? null : args.get(0);
        if (options != null && OptionListText.hasHelp(options)) {
            try {
                ctx.out().print(OptionListText.createHelp(format, fileName != null));
                return 0;
            } catch (StrataException e) {
                ctx.error(e);
                return 1;
            }
        }
        if (fileName == null) {
            return Diagnostics.tryHelp(ctx, "Expecting image file name");
        }
        long size = CreateOperation.NO_SIZE;
        if (args.size() > 1) {
            size = SizeParser.cvtnum(ctx, "image size", args.get(1));
            if (size < 0) {
                return 1;
            }
        }
        if (args.size() > 2) {
            return Diagnostics.tryHelp(ctx, "Unexpected argument: " + args.get(2));
        }
        try {
            CreatePlan plan = CreateOperation.prepare(format, fileName, options, size, backingFile, backingFormat,
                    unsafe, new StderrCheckListener(ctx));
            if (!quiet) {
                ctx.out().println(plan.formattingLine());
                ctx.out().flush();
            }
            plan.execute();
            return 0;
        } catch (StrataException e) {
            ctx.error(fileName + ": " + e.getMessage());
            if (e instanceof CreateFailure f) {
                ctx.err().print(f.hint());
            }
            if (ctx.debug()) {
                e.printStackTrace(ctx.err());
            }
            return 1;
        }
    }
}
