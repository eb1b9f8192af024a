package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.output.ProgressMeter;
import dev.strata.engine.StrataException;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.compare.CompareOperation;
import dev.strata.engine.ops.compare.CompareResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code compare}: qemu-img 7.2's {@code img_compare}. Exit codes: 0 identical, 1 different,
 * 2 an image could not be opened (or a bad -T), 3 block status failed, 4 a read failed.
 * Messages go to stdout unless -q; errors to stderr. -p prints QEMU's progress lines.
 */
@Command(name = "compare")
public final class CompareCommand implements Callable<Integer>, OptionHook {
    private static final Set<String> CACHE_MODES = Set.of("none", "off", "writeback", "writethrough",
            "directsync", "unsafe");

    private final CliContext ctx;

    @Option(names = {"-h", "--help"})
    boolean help;

    @Option(names = "-f")
    String format1;

    @Option(names = "-F")
    String format2;

    @Option(names = "-T")
    String cache = "writeback";

    @Option(names = "-p")
    boolean progress;

    @Option(names = "-q")
    boolean quiet;

    @Option(names = "-s")
    boolean strict;

    @Option(names = {"-U", "--force-share"})
    boolean forceShare;

    @Option(names = "--object")
    List<String> objects;

    @Option(names = "--image-opts")
    boolean imageOpts;

    @Parameters(arity = "0..*")
    List<String> files;

    public CompareCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer onOption(String longestName, String value) {
        return longestName.equals("--object") ? ObjectOptions.process(ctx, value) : null;
    }

    @Override
    public Integer call() {
        if (quiet) {
            progress = false;
        }
        if (files == null || files.size() != 2) {
            return Diagnostics.tryHelp(ctx, "Expecting two image file names");
        }
        String name1 = files.get(0);
        String name2 = files.get(1);
        ProgressMeter meter = new ProgressMeter(ctx.out(), progress, 2.0f);
        try {
            return compare(name1, name2, meter);
        } finally {
            meter.end();
        }
    }

    private int compare(String name1, String name2, ProgressMeter meter) {
        if (!CACHE_MODES.contains(cache)) {
            ctx.error("Invalid source cache option: " + cache);
            return 2;
        }
        Image image1;
        try {
            image1 = Opening.open(ctx, ImageOpts.resolve(imageOpts, name1, format1), forceShare);
        } catch (StrataException e) {
            ctx.error(e);
            return 2;
        }
        try (image1) {
            Image image2;
            try {
                image2 = Opening.open(ctx, ImageOpts.resolve(imageOpts, name2, format2), forceShare);
            } catch (StrataException e) {
                ctx.error(e);
                return 2;
            }
            try (image2) {
                meter.print(0, 100);
                CompareResult r = CompareOperation.compare(image1, name1, image2, name2, strict,
                        new CompareOperation.Progress() {
                            @Override
                            public void advance(long chunk, long base) {
                                meter.advance(chunk, base);
                            }

                            @Override
                            public void sizeMismatch() {
                                say("Warning: Image size mismatch!");
                            }
                        });
                return report(r);
            }
        }
    }

    private int report(CompareResult r) {
        switch (r.outcome()) {
            case IDENTICAL -> say("Images are identical.");
            case CONTENT_MISMATCH -> say("Content mismatch at offset " + r.offset() + "!");
            case SIZE_MISMATCH -> say("Strict mode: Image size mismatch!");
            case STATUS_MISMATCH -> say("Strict mode: Offset " + r.offset() + " block status mismatch!");
            case STATUS_ERROR -> ctx.error("Sector allocation test failed for " + r.fileName());
            case READ_ERROR -> ctx.error("Error while reading offset " + r.offset() + " of " + r.fileName() + ": "
                    + Diagnostics.strerror(r.errorKind()));
        }
        return r.outcome().exitCode();
    }

    private void say(String line) {
        if (!quiet) {
            ctx.out().println(line);
        }
    }
}
