package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.OptionHook;
import dev.strata.cli.SizeParser;
import dev.strata.engine.StrataException;
import dev.strata.engine.ops.bitmap.BitmapOp;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code strata-img bitmap}: qemu-img 7.2's img_bitmap. Each --add/--remove/--clear/--enable/
 * --disable/--merge adds an action in command-line order (repeats included); -g is parsed with
 * cvtnum while parsing (0 means "not given", as in qemu); then, in qemu's order: at least one
 * action, -g only with --add, -F only with -b, -b only with --merge, exactly two operands.
 */
@Command(name = "bitmap", description = "Change the persistent bitmaps of an image.")
public final class BitmapCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;
    private final List<BitmapOp.Action> actions = new ArrayList<>();
    private long granularity;

    @Option(names = {"-h", "--help"}, description = "Print help and exit.")
    private boolean help;

    @Option(names = "-f", description = "Image format (probed when absent).")
    private String format;

    @Option(names = {"-b", "--source-file"}, description = "Image holding the --merge source bitmap.")
    private String sourceFile;

    @Option(names = {"-F", "--source-format"}, description = "Format of the -b image.")
    private String sourceFormat;

    @Option(names = {"-g", "--granularity"}, description = "Granularity of a new bitmap.")
    private String granularityText;

    @Option(names = "--add", description = "Create the bitmap (enabled).")
    private boolean add;

    @Option(names = "--remove", description = "Remove the bitmap.")
    private boolean remove;

    @Option(names = "--clear", description = "Clear the bitmap.")
    private boolean clear;

    @Option(names = "--enable", description = "Start recording writes in the bitmap.")
    private boolean enable;

    @Option(names = "--disable", description = "Stop recording writes in the bitmap.")
    private boolean disable;

    @Option(names = "--merge", description = "Merge the SOURCE bitmap into the bitmap.")
    private String merge;

    @Option(names = "--object", description = "Create a user-creatable object (secret).")
    private List<String> objects = new ArrayList<>();

    @Option(names = "--image-opts", description = "Treat the file name as an option string.")
    private boolean imageOpts;

    @Parameters(arity = "0..*", description = "The image file name and the bitmap name.")
    private List<String> operands = new ArrayList<>();

    public BitmapCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer onOption(String longestName, String value) {
        switch (longestName) {
            case "--object" -> {
                return ObjectOptions.process(ctx, value);
            }
            case "--granularity" -> {
                long v = SizeParser.cvtnum(ctx, "granularity", value);
                if (v < 0) {
                    return 1;
                }
                granularity = v;
            }
            case "--add" -> actions.add(new BitmapOp.Action(BitmapOp.Kind.ADD, null));
            case "--remove" -> actions.add(new BitmapOp.Action(BitmapOp.Kind.REMOVE, null));
            case "--clear" -> actions.add(new BitmapOp.Action(BitmapOp.Kind.CLEAR, null));
            case "--enable" -> actions.add(new BitmapOp.Action(BitmapOp.Kind.ENABLE, null));
            case "--disable" -> actions.add(new BitmapOp.Action(BitmapOp.Kind.DISABLE, null));
            case "--merge" -> actions.add(new BitmapOp.Action(BitmapOp.Kind.MERGE, value));
            default -> {
                return null;
            }
        }
        return null;
    }

    @Override
    public Integer call() {
        if (actions.isEmpty()) {
            ctx.error("Need at least one of --add, --remove, --clear, --enable, --disable, or --merge");
            return 1;
        }
        if (granularity != 0 && !add) {
            ctx.error("granularity only supported with --add");
            return 1;
        }
        if (sourceFormat != null && sourceFile == null) {
            ctx.error("-F only supported with -b");
            return 1;
        }
        if (sourceFile != null && merge == null) {
            ctx.error("Merge bitmap source file only supported with --merge");
            return 1;
        }
        if (operands.size() != 2) {
            ctx.error("Expecting filename and bitmap name");
            return 1;
        }
        try {
            ImageOpts.Resolved image = ImageOpts.resolve(imageOpts, operands.get(0), format);
            ImageOpts.Resolved source = sourceFile == null ? null : ImageOpts.resolve(false, sourceFile, sourceFormat);
            BitmapOp.run(image.source(), operands.get(1), actions, granularity == 0 ? null : granularity,
                    source == null ? null : source.source(), text -> {
                        ctx.err().print(text);
                        ctx.err().flush();
                    }, new StderrCheckListener(ctx));
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        return 0;
    }
}
