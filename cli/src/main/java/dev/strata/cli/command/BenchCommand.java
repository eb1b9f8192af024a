package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.SizeParser;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.bench.BenchFailure;
import dev.strata.engine.ops.bench.BenchOperation;
import dev.strata.engine.ops.bench.BenchSettings;
import dev.strata.engine.storage.CacheMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code bench}: qemu-img 7.2's {@code img_bench}. Options are checked as getopt meets them (the
 * first bad one ends the run, in qemu's words); then the image is opened (read-write for -w, with
 * the -t cache mode), the two header lines printed, the requests sent by {@link BenchOperation}
 * and the time printed. {@code -n}/{@code -i native} are accepted as qemu accepts them (they need
 * {@code -t none} or {@code directsync}, cache.direct=on, or the open fails in qemu's words); the
 * requests always run on a thread pool. Like qemu-img, -q silences nothing here.
 *
 * <p>One deliberate difference: with {@code -d 0} and requests to send qemu-img waits forever;
 * strata-img says so and exits 1.
 */
@Command(name = "bench")
public final class BenchCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;

    @Option(names = {"-h", "--help"})
    boolean help;

    @Option(names = "-c")
    String countText;

    @Option(names = "-d")
    String depthText;

    @Option(names = "-f")
    String format;

    @Option(names = "--flush-interval")
    String flushIntervalText;

    @Option(names = "-i")
    String aio;

    @Option(names = "-n")
    boolean nativeAioFlag;

    @Option(names = "--no-drain")
    boolean noDrain;

    @Option(names = "-o")
    String offsetText;

    @Option(names = "--pattern")
    String patternText;

    @Option(names = "-q")
    boolean quiet;

    @Option(names = "-s")
    String bufferSizeText;

    @Option(names = "-S")
    String stepText;

    @Option(names = "-t")
    String cacheText;

    @Option(names = "-w")
    boolean write;

    @Option(names = {"-U", "--force-share"})
    boolean forceShare;

    @Option(names = "--image-opts")
    boolean imageOpts;

    @Parameters(arity = "0..*")
    List<String> files;

    private int count = 75000;
    private int depth = 64;
    private long offset;
    private int bufferSize = 4096;
    private int step;
    private int pattern;
    private int flushInterval;
    private boolean nativeAio;
    private CacheMode cache = CacheMode.WRITEBACK;

    public BenchCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    /** Checks each option as qemu-img's getopt loop does, in command-line order. */
    @Override
    public Integer onOption(String name, String value) {
        switch (name) {
            case "-c" -> {
                count = (int) unsignedInt(value, Integer.MAX_VALUE);
                return count < 0 ? fail("Invalid request count specified") : null;
            }
            case "-d" -> {
                depth = (int) unsignedInt(value, Integer.MAX_VALUE);
                return depth < 0 ? fail("Invalid queue depth specified") : null;
            }
            case "--flush-interval" -> {
                flushInterval = (int) unsignedInt(value, Integer.MAX_VALUE);
                return flushInterval < 0 ? fail("Invalid flush interval specified") : null;
            }
            case "--pattern" -> {
                pattern = (int) unsignedInt(value, 0xff);
                return pattern < 0 ? fail("Invalid pattern byte specified") : null;
            }
            case "-o" -> {
                offset = SizeParser.cvtnum(ctx, "offset", value);
                return offset < 0 ? 1 : null;
            }
            case "-s" -> {
                bufferSize = (int) BoundedSize.parse(ctx, "buffer size", value, 0, Integer.MAX_VALUE);
                return bufferSize < 0 ? 1 : null;
            }
            case "-S" -> {
                step = (int) BoundedSize.parse(ctx, "step_size", value, 0, Integer.MAX_VALUE);
                return step < 0 ? 1 : null;
            }
            case "-t" -> {
                try {
                    cache = CacheMode.parse(value);
                } catch (StrataException e) {
                    return fail("Invalid cache mode");
                }
                return null;
            }
            case "-i" -> {
                switch (value) {
                    case "native" -> nativeAio = true;
                    case "threads", "io_uring" -> {
                    }
                    default -> {
                        return fail("Invalid aio option: " + value);
                    }
                }
                return null;
            }
            case "-n" -> {
                nativeAio = true;
                return null;
            }
            default -> {
                return null;
            }
        }
    }

    private Integer fail(String message) {
        ctx.error(message);
        return 1;
    }

    /**
     * qemu_strtoul(value, NULL, 0) (whole string, base from the prefix) limited to {@code max}:
     * the value, or -1 when it does not parse or exceeds {@code max}. A minus sign negates as
     * strtoul does, so only "-0" stays in range.
     */
    static long unsignedInt(String value, long max) {
        int pos = 0;
        int n = value.length();
        while (pos < n && Character.isWhitespace(value.charAt(pos))) {
            pos++;
        }
        boolean negative = false;
        if (pos < n && (value.charAt(pos) == '+' || value.charAt(pos) == '-')) {
            negative = value.charAt(pos) == '-';
            pos++;
        }
        int radix = 10;
        if (pos + 1 < n && value.charAt(pos) == '0' && (value.charAt(pos + 1) == 'x' || value.charAt(pos + 1) == 'X')
                && pos + 2 < n && Character.digit(value.charAt(pos + 2), 16) >= 0) {
            radix = 16;
            pos += 2;
        } else if (pos < n && value.charAt(pos) == '0') {
            radix = 8;
        }
        if (pos >= n) {
            return -1;
        }
        long v = 0;
        for (int i = pos; i < n; i++) {
            int d = value.charAt(i) < 128 ? Character.digit(value.charAt(i), radix) : -1;
            if (d < 0) {
                return -1;
            }
            v = v * radix + d;
            if (v > max) {
                return -1;
            }
        }
        return negative && v != 0 ? -1 : v;
    }

    @Override
    public Integer call() {
        if (files == null || files.size() != 1) {
            return Diagnostics.tryHelp(ctx, "Expecting one image file name");
        }
        if (!write && flushInterval != 0) {
            return fail("--flush-interval is only available in write tests");
        }
        if (flushInterval != 0 && flushInterval < depth) {
            return fail("Flush interval can't be smaller than depth");
        }
        String name = files.get(0);
        Image image;
        try {
            image = open(name);
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        try (image) {
            BenchSettings settings = new BenchSettings(count, depth, offset, bufferSize,
                    step != 0 ? step : bufferSize, write, pattern, flushInterval, !noDrain);
            ctx.out().println("Sending " + count + " " + (write ? "write" : "read") + " requests, " + bufferSize
                    + " bytes each, " + depth + " in parallel (starting at offset " + offset + ", step size "
                    + settings.step() + ")");
            if (flushInterval != 0) {
                ctx.out().println("Sending flush every " + flushInterval + " requests");
            }
            long nanos = BenchOperation.run(image, settings);
            ctx.out().printf(Locale.ROOT, "Run completed in %3.3f seconds.%n", nanos / 1e9);
            return 0;
        } catch (BenchFailure e) {
            return fail((e.undrainedFlush() ? "Failed flush request: " : "Failed request: ")
                    + Diagnostics.strerror(e.kind()));
        } catch (IllegalArgumentException e) {
            return fail("Queue depth 0 can never send a request (qemu-img would wait forever)");
        }
    }

    /** img_open with the -t cache mode, read-write for -w, and the aio checks of file-posix. */
    private Image open(String name) {
        ImageOpts.Resolved r = ImageOpts.resolve(imageOpts, name, format);
        OpenOptions options = new OpenOptions(!write, forceShare || r.forceShare(), false)
                .withCache(cache).withCorruptionListener(ctx.corruptionReporter())
                .withDiagnostics(new StderrCheckListener(ctx));
        Image image;
        try {
            image = ChainOpener.standard().open(r.source().fileName(), r.source().format(), options);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(r.source().displayName(), e), e);
        }
        if (nativeAio && cache != CacheMode.NONE && cache != CacheMode.DIRECTSYNC) {
            image.close();
            throw new StrataException(dev.strata.engine.ErrorKind.EINVAL, ChainOpener.describeOpenFailure(
                    r.source().displayName(), new StrataException(dev.strata.engine.ErrorKind.EINVAL,
                            "aio=native was specified, but it requires cache.direct=on, which was not specified.")));
        }
        if (write && image.layers().get(0).probed() && image.layers().get(0).driver().formatName().equals("raw")) {
            ctx.unprefixedError("WARNING: Image format was not specified for '" + r.source().displayName()
                    + "' and probing guessed raw.");
            ctx.unprefixedError("         Automatically detecting the format is dangerous for raw images, "
                    + "write operations on block 0 will be restricted.");
            ctx.unprefixedError("         Specify the 'raw' format explicitly to remove the restrictions.");
        }
        return image;
    }
}
