package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.SizeParser;
import dev.strata.engine.StrataException;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.dd.DdFailure;
import dev.strata.engine.ops.dd.DdGeometry;
import dev.strata.engine.ops.dd.DdOperation;
import dev.strata.engine.ops.dd.DdOutput;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code dd}: qemu-img 7.2's {@code img_dd}. Operands {@code bs=}, {@code count=},
 * {@code skip=}, {@code if=}, {@code of=} are read in order (the last of each wins; the first
 * bad one ends the run); then the input is opened read-only, the output created in {@code -O}
 * format (raw by default) with the size qemu computes, opened read-write and filled. A skip
 * past the end warns and leaves an empty output, exit 0, as qemu-img does.
 */
@Command(name = "dd")
public final class DdCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;

    @Option(names = {"-h", "--help"})
    boolean help;

    @Option(names = "-f")
    String format;

    @Option(names = "-O")
    String outputFormat = "raw";

    @Option(names = {"-U", "--force-share"})
    boolean forceShare;

    @Option(names = "--object")
    List<String> objects;

    @Option(names = "--image-opts")
    boolean imageOpts;

    @Parameters(arity = "0..*")
    List<String> operands;

    private int blockSize = 512;
    private long count = -1;
    private long skip = -1;
    private String input;
    private String output;

    public DdCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer onOption(String longestName, String value) {
        return longestName.equals("--object") ? ObjectOptions.process(ctx, value) : null;
    }

    @Override
    public Integer call() {
        if (operands != null) {
            for (String operand : operands) {
                if (!takeOperand(operand)) {
                    return 1;
                }
            }
        }
        if (input == null || output == null) {
            ctx.error("Must specify both input and output files");
            return 1;
        }
        try (Image in = Opening.open(ctx, ImageOpts.resolve(imageOpts, input, format), forceShare)) {
            DdGeometry geometry = DdGeometry.of(in.size(), blockSize, count, skip);
            DdOutput target = DdOutput.plan(output, outputFormat, geometry.outputSize());
            target.create();
            try (Image out = target.open()) {
                if (geometry.skipPastEnd()) {
                    ctx.error(input + ": cannot skip to specified offset");
                }
                DdOperation.copy(in, out, geometry);
            }
        } catch (DdFailure e) {
            ctx.error("error while " + (e.writing() ? "writing to output" : "reading from input") + " image file: "
                    + Diagnostics.strerror(e.kind()));
            return 1;
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        return 0;
    }

    /** Applies one {@code key=value} operand; false after reporting a bad one. */
    private boolean takeOperand(String operand) {
        int eq = operand.indexOf('=');
        String key = eq < 0 ? operand : operand.substring(0, eq);
        String value = eq < 0 ? null : operand.substring(eq + 1);
        switch (eq < 0 ? "" : key) {
            case "bs" -> {
                long v = BoundedSize.parse(ctx, "bs", value, 1, Integer.MAX_VALUE);
                if (v < 0) {
                    return false;
                }
                blockSize = (int) v;
            }
            case "count" -> {
                count = SizeParser.cvtnum(ctx, "count", value);
                return count >= 0;
            }
            case "skip" -> {
                skip = SizeParser.cvtnum(ctx, "skip", value);
                return skip >= 0;
            }
            case "if" -> input = value;
            case "of" -> output = value;
            default -> {
                ctx.error("unrecognized operand " + key);
                return false;
            }
        }
        return true;
    }
}
