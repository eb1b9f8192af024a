package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.SizeParser;
import dev.strata.cli.output.ProgressMeter;
import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.convert.ConvertFailure;
import dev.strata.engine.ops.convert.ConvertOperation;
import dev.strata.engine.ops.convert.SalvageReport;
import dev.strata.engine.ops.create.OptionListText;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code convert}: qemu-img 7.2's {@code img_convert}. The checks run in qemu-img's order, so
 * that a command line with several mistakes reports the same one first; the copy itself is
 * {@link ConvertOperation}. Sources open read-only with their chains; the target is created
 * (unless -n) with the output format's create options and the sources' total size, then opened
 * read-write with the -t cache mode (unsafe by default, as qemu-img's convert). A target this
 * command created is removed again when the copy fails, so no half-written image is left
 * looking valid; an existing target (-n) is left as it is.
 */
@Command(name = "convert")
public final class ConvertCommand implements Callable<Integer>, OptionHook {
    private static final int MAX_BUF_SECTORS = 32768;
    private static final int MAX_WORKERS = 16;

    private final CliContext ctx;
    /** -S in sectors (qemu's default: 4 KiB). */
    int minSparseSectors = 8;
    /** Whether -S was given. */
    boolean explicitSparse;
    /** -m. */
    int workers = 8;
    /** -r in bytes per second; 0 = no limit. */
    long rateBytesPerSecond;

    @Option(names = {"-h", "--help"})
    boolean help;

    @Option(names = "-f")
    String sourceFormat;

    @Option(names = "-O")
    String targetFormat;

    @Option(names = "-B")
    String backingFile;

    @Option(names = "-C")
    boolean copyRange;

    @Option(names = "-c")
    boolean compress;

    @Option(names = "-F")
    String backingFormat;

    @Option(names = "-o")
    List<String> options;

    @Option(names = "-l")
    String snapshot;
    /** The parsed -l argument (null without -l). */
    SnapshotSource snapshotSource;

    @Option(names = "-S")
    String sparseSize;

    @Option(names = "-p")
    boolean progress;

    @Option(names = "-t")
    String cache = "unsafe";

    @Option(names = "-T")
    String sourceCache = "writeback";

    @Option(names = "-q")
    boolean quiet;

    @Option(names = "-n")
    boolean noCreate;

    @Option(names = "-m")
    String parallel;

    @Option(names = "-W")
    boolean outOfOrder;

    @Option(names = {"-U", "--force-share"})
    boolean forceShare;

    @Option(names = "-r")
    String rateLimit;

    @Option(names = "--object")
    List<String> objects;

    @Option(names = "--image-opts")
    boolean imageOpts;

    @Option(names = "--target-image-opts")
    boolean targetImageOpts;

    @Option(names = "--salvage")
    boolean salvage;

    @Option(names = "--target-is-zero")
    boolean targetIsZero;

    @Option(names = "--bitmaps")
    boolean bitmaps;

    @Option(names = "--skip-broken-bitmaps")
    boolean skipBrokenBitmaps;

    @Parameters(arity = "0..*")
    List<String> files;

    public ConvertCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    /** Option checks qemu-img makes while parsing, in command-line order. */
    @Override
    public Integer onOption(String longestName, String value) {
        switch (longestName) {
            case "--object":
                return ObjectOptions.process(ctx, value);
            case "-o":
                return OptionListText.isValid(value) ? null : fail("Invalid option list: " + value);
            case "-l":
                snapshotSource = SnapshotSource.parse(ctx, value);
                return snapshotSource == null ? 1 : null;
            case "-S": {
                long v = SizeParser.cvtnum(ctx, "buffer size for sparse output", value);
                if (v < 0) {
                    return 1;
                }
                if (v % 512 != 0 || v / 512 > MAX_BUF_SECTORS) {
                    return fail("Invalid buffer size for sparse output specified. Valid sizes are multiples of 512"
                            + " up to " + MAX_BUF_SECTORS * 512 + ". Select 0 to disable sparse detection"
                            + " (fully allocates output).");
                }
                minSparseSectors = (int) (v / 512);
                explicitSparse = true;
                return null;
            }
            case "-m": {
                long v = parseCount(value);
                if (v < 1 || v > MAX_WORKERS) {
                    return fail("Invalid number of coroutines. Allowed number of coroutines is between 1 and "
                            + MAX_WORKERS);
                }
                workers = (int) v;
                return null;
            }
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

    private static long parseCount(String value) {
        try {
            return Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private int fail(String message) {
        ctx.error(message);
        return 1;
    }

    @Override
    public Integer call() {
        return new ConvertRun(ctx, this).execute(files == null ? new ArrayList<>() : files);
    }

    /** Reports a failure of the copy in qemu-img's words. */
    static String describe(ConvertFailure f) {
        String step = switch (f.stage()) {
            case BLOCK_STATUS -> "error while reading block status at offset ";
            case READ -> "error while reading at byte ";
            case WRITE -> "error while writing at byte ";
        };
        return step + f.offset() + ": " + Diagnostics.strerror(f.kind());
    }

    /** qemu-img's --salvage warnings (none with -q). */
    static SalvageReport salvageWarnings(CliContext ctx, boolean quiet) {
        if (quiet) {
            return SalvageReport.NONE;
        }
        return new SalvageReport() {
            @Override
            public void blockStatusFailed(long offset, ErrorKind kind) {
                ctx.error("warning: error while reading block status at offset " + offset + ": "
                        + Diagnostics.strerror(kind));
            }

            @Override
            public void readFailed(long offset, ErrorKind kind) {
                ctx.error("warning: error while reading offset " + offset + ": " + Diagnostics.strerror(kind));
            }
        };
    }

    /** The progress meter qemu-img convert uses (one percent steps). */
    static ProgressMeter meter(CliContext ctx, boolean enabled) {
        return new ProgressMeter(ctx.out(), enabled, 1.0f);
    }

    /** Closes {@code image} if not null, keeping the first failure. */
    static void closeQuietly(Image image) {
        if (image != null) {
            try {
                image.close();
            } catch (StrataException ignored) {
                // The copy's own error (or success) is what gets reported.
            }
        }
    }
}
