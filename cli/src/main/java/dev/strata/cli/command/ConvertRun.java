package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.output.ProgressMeter;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.OpenOptions;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.image.Image;
import dev.strata.engine.ops.convert.ConvertFailure;
import dev.strata.engine.ops.create.ConvertTarget;
import dev.strata.engine.ops.create.OptionListText;
import dev.strata.engine.ops.convert.ConvertOperation;
import dev.strata.engine.ops.convert.ConvertProgress;
import dev.strata.engine.ops.convert.ConvertSettings;
import dev.strata.engine.storage.CacheMode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One run of {@code convert} after option parsing: qemu-img 7.2's img_convert from its
 * post-getopt checks to the end, step for step (the order decides which of several mistakes is
 * reported). Exit code 0 or 1.
 */
final class ConvertRun {
    private final CliContext ctx;
    private final ConvertCommand c;
    private final List<Image> sources = new ArrayList<>();
    private Image target;

    ConvertRun(CliContext ctx, ConvertCommand command) {
        this.ctx = ctx;
        this.c = command;
    }

    int execute(List<String> args) {
        String outFormat = c.targetFormat != null ? c.targetFormat : (c.targetImageOpts ? null : "raw");
        String early = earlyMistake();
        if (early != null) {
            ctx.error(early);
            return 1;
        }
        int sourceCount = args.size() - 1;
        String outName = sourceCount >= 1 ? args.get(args.size() - 1) : null;
        String optionString = null;
        if (c.options != null) {
            for (String o : c.options) {
                optionString = OptionListText.accumulate(optionString, o);
            }
        }
        if (optionString != null && OptionListText.hasHelp(optionString)) {
            if (outFormat == null) {
                ctx.error("Option help requires a format be specified");
                return 1;
            }
            try {
                ctx.out().print(OptionListText.createHelp(outFormat, outName != null));
                return 0;
            } catch (StrataException e) {
                ctx.error(e);
                return 1;
            }
        }
        if (sourceCount < 1) {
            ctx.error("Must specify image file name");
            return 1;
        }
        try {
            CacheMode.parse(c.sourceCache);
        } catch (StrataException e) {
            ctx.error("Invalid source cache option: " + c.sourceCache);
            return 1;
        }
        ProgressMeter meter = ConvertCommand.meter(ctx, c.progress && !c.quiet);
        meter.print(0, 100);
        boolean ok = false;
        try {
            ok = run(args.subList(0, sourceCount), outName, outFormat, optionString, meter);
        } finally {
            if (ok) {
                meter.print(100, 0);
            }
            meter.end();
            ConvertCommand.closeQuietly(target);
            for (Image source : sources) { // a loop, not forEach(method reference): see HostFiles.Binding
                ConvertCommand.closeQuietly(source);
            }
        }
        return ok ? 0 : 1;
    }

    /** The checks qemu-img makes right after getopt, before touching any file. */
    private String earlyMistake() {
        if (c.skipBrokenBitmaps && !c.bitmaps) {
            return "Use of --skip-broken-bitmaps requires --bitmaps";
        }
        if (c.compress && c.copyRange) {
            return "Cannot enable copy offloading when -c is used";
        }
        if (c.explicitSparse && c.copyRange) {
            return "Cannot enable copy offloading when -S is used";
        }
        if (c.copyRange && c.salvage) {
            return "Cannot use copy offloading in salvaging mode";
        }
        if (c.targetImageOpts && !c.noCreate) {
            return "--target-image-opts requires use of -n flag";
        }
        if (c.noCreate && c.options != null) {
            return "-o has no effect when skipping image creation";
        }
        if (c.targetIsZero && !c.noCreate) {
            return "--target-is-zero requires use of -n flag";
        }
        return null;
    }

    private boolean run(List<String> sourceNames, String outName, String outFormat, String optionString,
                        ProgressMeter meter) {
        for (String name : sourceNames) {
            try {
                sources.add(Opening.open(ctx, ImageOpts.resolve(c.imageOpts, name, c.sourceFormat), c.forceShare));
            } catch (StrataException e) {
                ctx.error(e);
                return false;
            }
        }
        if (c.snapshotSource != null) {
            String failure = c.snapshotSource.load(sources);
            if (failure != null) {
                ctx.error(failure);
                return false;
            }
        }
        long totalSize = ConvertOperation.totalSize(sources);
        ConvertTarget creation = null;
        if (!c.noCreate) {
            try {
                creation = ConvertTarget.prepare(outFormat, outName, optionString, totalSize, c.backingFile,
                        c.backingFormat);
            } catch (StrataException e) {
                ctx.error(e.getMessage());
                return false;
            }
        }
        String backing = creation != null ? creation.backingFile() : null;
        String mistake = targetMistake(creation, backing, sourceNames.size());
        if (mistake != null) {
            ctx.error(mistake);
            return false;
        }
        if (creation != null) {
            try {
                creation.execute();
            } catch (StrataException e) {
                ctx.error(outName + ": error while converting " + outFormat + ": " + e.getMessage());
                return false;
            }
        }
        CacheMode cache;
        try {
            cache = CacheMode.parse(c.cache);
        } catch (StrataException e) {
            ctx.error("Invalid cache option: " + c.cache);
            return false;
        }
        try {
            target = openTarget(outName, outFormat, cache);
        } catch (StrataException e) {
            ctx.error(e);
            return false;
        }
        String late = lateMistake(outFormat, totalSize);
        if (late != null) {
            ctx.error(late);
            return false;
        }
        if (!copy(creation != null, outName, backing, meter)) {
            return false;
        }
        return !c.bitmaps || BitmapCopy.copy(ctx, sources.get(0), target, c.skipBrokenBitmaps);
    }

    /** Checks qemu-img makes once the target's create options are known. */
    private String targetMistake(ConvertTarget creation, String backing, int sourceCount) {
        if (c.targetIsZero && backing != null) {
            return "Cannot use --target-is-zero when the destination image has a backing file";
        }
        if (sourceCount > 1 && backing != null) {
            return "Having a backing file for the target makes no sense when concatenating multiple input images";
        }
        if (backing != null && creation.backingFormat() == null) {
            return "Use of backing file requires explicit backing format";
        }
        if (c.compress && creation != null) {
            if (!creation.canCompress()) {
                return "Compression not supported for this file format";
            }
            if (creation.encrypted()) {
                return "Compression and encryption not supported at the same time";
            }
            if (creation.preallocated()) {
                return "Compression and preallocation not supported at the same time";
            }
        }
        if (c.bitmaps) {
            if (sourceCount > 1) {
                return "Copying bitmaps only possible with single source";
            }
            return BitmapCopy.sourceMistake(sources.get(0), c.skipBrokenBitmaps);
        }
        return null;
    }

    /** Checks qemu-img makes on the opened target. */
    private String lateMistake(String outFormat, long totalSize) {
        String format = target.layers().get(0).driver().formatName();
        if (c.bitmaps && !format.equals("qcow2")) {
            return "Format driver '" + format + "' does not support bitmaps";
        }
        if (c.compress && target.compressedUnit() == 0) {
            return "Compression not supported for this file format";
        }
        if (c.noCreate && target.size() / 512 < totalSize / 512) {
            return "output file is smaller than input file";
        }
        return null;
    }

    private Image openTarget(String name, String format, CacheMode cache) {
        OpenOptions options = new OpenOptions(false, false, false).withCache(cache)
                .withCorruptionListener(ctx.corruptionReporter())
                .withDiagnostics(new StderrCheckListener(ctx));
        try {
            return ChainOpener.standard().open(name, format, options);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), ChainOpener.describeOpenFailure(name, e), e);
        }
    }

    private boolean copy(boolean created, String outName, String backing, ProgressMeter meter) {
        boolean hasBacking = backing != null;
        int clusterBytes = (int) target.layers().get(0).driver().clusterSize();
        long backingSize = hasBacking && target.layers().size() > 1 ? target.layers().get(1).driver().virtualSize()
                : -1;
        boolean zeroInit = c.targetIsZero || (created && c.minSparseSectors > 0 && !hasBacking);
        int alignment = Math.max(Integer.highestOneBit(c.minSparseSectors), 1);
        ConvertSettings settings = new ConvertSettings(c.compress, c.minSparseSectors, hasBacking, backingSize,
                zeroInit, c.workers, !c.outOfOrder, 4096, Math.max(1, clusterBytes / 512), alignment, c.copyRange,
                c.salvage, c.rateBytesPerSecond);
        try {
            ConvertProgress progress = c.progress && !c.quiet ? percent -> meter.print((float) percent, 0)
                    : ConvertProgress.NONE;
            ConvertOperation.run(sources, target, settings, progress, ConvertCommand.salvageWarnings(ctx, c.quiet));
            return true;
        } catch (ConvertFailure f) {
            ctx.error(ConvertCommand.describe(f));
        } catch (StrataException e) {
            ctx.error(e);
        }
        if (created) {
            ConvertCommand.closeQuietly(target);
            target = null;
            try {
                Files.deleteIfExists(Path.of(outName));
            } catch (IOException ignored) {
                // The error above is what matters; a leftover file is the worst case.
            }
        }
        return false;
    }
}
