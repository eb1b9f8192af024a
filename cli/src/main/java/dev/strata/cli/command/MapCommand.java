package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.SizeParser;
import dev.strata.cli.output.AsciiBuffer;
import dev.strata.cli.output.MapJson;
import dev.strata.cli.output.MapText;
import dev.strata.engine.StrataException;
import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.map.MapOperation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code map}: qemu-img 7.2's {@code img_map}. Entries are printed as the walk completes them;
 * a block-status failure or (human output) data without a host offset stops the output where
 * qemu-img stops it, with exit code 1.
 */
@Command(name = "map")
public final class MapCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;

    @Option(names = {"-h", "--help"})
    boolean help;

    @Option(names = {"-f", "--format"})
    String format;

    @Option(names = "--output")
    String output;

    @Option(names = "--object")
    List<String> objects;

    @Option(names = "--image-opts")
    boolean imageOpts;

    @Option(names = {"-U", "--force-share"})
    boolean forceShare;

    @Option(names = {"-s", "--start-offset"})
    String startOffsetText;

    @Option(names = {"-l", "--max-length"})
    String maxLengthText;

    @Parameters(arity = "0..*")
    List<String> files;

    private long startOffset;
    private long maxLength = MapOperation.NO_LIMIT;

    public MapCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer onOption(String longestName, String value) {
        switch (longestName) {
            case "--object":
                return ObjectOptions.process(ctx, value);
            case "--start-offset":
                startOffset = SizeParser.cvtnum(ctx, "start offset", value);
                return startOffset < 0 ? 1 : null;
            case "--max-length":
                maxLength = SizeParser.cvtnum(ctx, "max length", value);
                return maxLength < 0 ? 1 : null;
            default:
                return null;
        }
    }

    @Override
    public Integer call() {
        if (files == null || files.size() != 1) {
            return Diagnostics.tryHelp(ctx, "Expecting one image file name");
        }
        OutputFormat fmt = OutputFormat.parse(ctx, output);
        if (fmt == null) {
            return 1;
        }
        Image image;
        try {
            ImageOpts.Resolved r = ImageOpts.resolve(imageOpts, files.get(0), format);
            image = Opening.open(ctx, r, forceShare);
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        try (image) {
            return fmt == OutputFormat.JSON ? json(image) : human(image);
        }
    }

    // The sinks below are anonymous classes, not lambdas: map is a short command whose start-up
    // counts (see StartupLambdaTest).

    /** Bytes of JSON collected before handing them to the output stream. */
    private static final int OUTPUT_BATCH = 1 << 16;

    private int json(Image image) {
        PrintStream out = ctx.out();
        out.print(MapJson.header());
        AsciiBuffer pending = new AsciiBuffer(OUTPUT_BATCH + 256);
        try {
            MapOperation.walkAhead(image, startOffset, maxLength, MapOperation.Refusal.NONE, new MapOperation.Sink() {
                @Override
                public boolean entry(Extent e, boolean last) {
                    MapJson.appendEntry(pending, e, last);
                    if (pending.length() >= OUTPUT_BATCH) {
                        pending.drainTo(out);
                    }
                    return true;
                }
            });
        } catch (StrataException e) {
            pending.drainTo(out);
            return metadataError(e);
        }
        pending.drainTo(out);
        out.print(MapJson.footer());
        return 0;
    }

    private int human(Image image) {
        PrintStream out = ctx.out();
        out.print(MapText.header());
        boolean completed;
        try {
            completed = MapOperation.walkAhead(image, startOffset, maxLength, new MapOperation.Refusal() {
                @Override
                public boolean refuses(Extent e, boolean first) {
                    return MapText.fails(e, first);
                }
            }, new MapOperation.Sink() {
                private boolean first = true;

                @Override
                public boolean entry(Extent e, boolean last) {
                    MapText.Line line = MapText.entry(e, first);
                    first = false;
                    if (line instanceof MapText.Line.Error) {
                        out.flush();
                        ctx.error(MapText.NO_OFFSET_ERROR);
                        return false;
                    }
                    if (line instanceof MapText.Line.Print p) {
                        out.print(p.text());
                    }
                    return true;
                }
            });
        } catch (StrataException e) {
            return metadataError(e);
        }
        return completed ? 0 : 1;
    }

    private int metadataError(StrataException e) {
        ctx.out().flush();
        ctx.error("Could not read file metadata: " + Diagnostics.strerror(e.kind()));
        if (ctx.debug()) {
            e.printStackTrace(ctx.err());
        }
        return 1;
    }
}
