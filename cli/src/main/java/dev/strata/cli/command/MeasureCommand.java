package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.HelpOnBadOption;
import dev.strata.cli.OptionHook;
import dev.strata.cli.SizeParser;
import dev.strata.cli.output.QObjectJson;
import dev.strata.engine.StrataException;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.create.CreateOptions;
import dev.strata.engine.ops.create.OptionListText;
import dev.strata.engine.ops.measure.MeasureOperation;
import dev.strata.engine.ops.measure.MeasureResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code measure}: qemu-img 7.2's {@code img_measure}. {@code --output}, {@code --size} and
 * {@code -o} are checked as they come; then the argument rules, the source (opened read-only
 * with its chain, before the output format is looked at, as qemu does; {@code -l} then loads an
 * internal snapshot into it, as convert's), the target options and {@link MeasureOperation}. Output is "required size: N" / "fully allocated size: N" /
 * "bitmaps size: N", or qemu's JSON of BlockMeasureInfo. A bad option gets glibc's diagnostic,
 * the global help and exit 0 (img_measure's getopt string has no ':' and '?' falls into help()).
 */
@Command(name = "measure")
public final class MeasureCommand implements Callable<Integer>, OptionHook, HelpOnBadOption {
    private final CliContext ctx;

    @Option(names = {"-h", "--help"})
    boolean help;

    @Option(names = "-f")
    String format;

    @Option(names = "-O")
    String outFormat = "raw";

    @Option(names = "-o")
    List<String> optionArgs;

    @Option(names = "-l")
    String snapshot;

    /** The snapshot -l names, parsed when the option is met (as convert's -l). */
    private SnapshotSource snapshotSource;

    @Option(names = {"-U", "--force-share"})
    boolean forceShare;

    @Option(names = "--object")
    List<String> objects;

    @Option(names = "--image-opts")
    boolean imageOpts;

    @Option(names = "--output")
    String output;

    @Option(names = "--size")
    String sizeText;

    @Parameters(arity = "0..*")
    List<String> files;

    private String options;
    private long size = -1;
    private OutputFormat outputFormat = OutputFormat.HUMAN;

    public MeasureCommand(CliContext ctx) {
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
            case "--output":
                outputFormat = OutputFormat.parse(ctx, value);
                return outputFormat == null ? 1 : null;
            case "--size":
                size = SizeParser.cvtnum(ctx, "image size", value);
                return size < 0 ? 1 : null;
            case "-l":
                snapshotSource = SnapshotSource.parse(ctx, value);
                return snapshotSource == null ? 1 : null;
            default:
                return null;
        }
    }

    @Override
    public Integer call() {
        List<String> args = files == null ? List.of() : files;
        if (args.size() > 1) {
            ctx.error("At most one filename argument is allowed.");
            return 1;
        }
        String fileName = args.isEmpty() ? null : args.get(0);
        if (fileName == null && (imageOpts || format != null || snapshot != null)) {
            ctx.error("--image-opts, -f, and -l require a filename argument.");
            return 1;
        }
        if (fileName != null && size >= 0) {
            ctx.error("--size N cannot be used together with a filename.");
            return 1;
        }
        if (fileName == null && size < 0) {
            ctx.error("Either --size N or one filename must be specified.");
            return 1;
        }
        Image source = null;
        try {
            if (fileName != null) {
                source = Opening.open(ctx, ImageOpts.resolve(imageOpts, fileName, format), forceShare);
                String loadError = snapshotSource == null ? null : snapshotSource.load(List.of(source));
                if (loadError != null) {
                    ctx.error(loadError);
                    return 1;
                }
            }
            return measure(source);
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        } finally {
            if (source != null) {
                source.close();
            }
        }
    }

    private int measure(Image source) {
        CreateOptions opts = MeasureOperation.targetOptions(outFormat, null);
        if (options != null) {
            try {
                opts.parse(options);
            } catch (StrataException e) {
                ctx.error(e);
                ctx.error("Invalid options for file format '" + outFormat + "'");
                return 1;
            }
        }
        if (size >= 0) {
            opts.setNumber("size", size);
        }
        MeasureResult r = MeasureOperation.measure(outFormat, opts, source);
        if (outputFormat == OutputFormat.JSON) {
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("required", r.required());
            json.put("fully-allocated", r.fullyAllocated());
            if (r.bitmaps() != null) {
                json.put("bitmaps", r.bitmaps());
            }
            ctx.out().println(QObjectJson.pretty(json));
        } else {
            ctx.out().println("required size: " + Long.toUnsignedString(r.required()));
            ctx.out().println("fully allocated size: " + Long.toUnsignedString(r.fullyAllocated()));
            if (r.bitmaps() != null) {
                ctx.out().println("bitmaps size: " + Long.toUnsignedString(r.bitmaps()));
            }
        }
        return 0;
    }
}
