package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.output.InfoJson;
import dev.strata.cli.output.InfoText;
import dev.strata.engine.StrataException;
import dev.strata.engine.image.ChainOpener;
import dev.strata.engine.ops.info.ImageInfo;
import dev.strata.engine.ops.info.InfoOperation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code info}: qemu-img 7.2's {@code img_info}. Each image is opened without its backing
 * file; {@code --backing-chain} walks the chain layer by layer. Output is collected first, so a
 * failure part-way down the chain prints nothing but the error, as qemu-img does.
 */
@Command(name = "info")
public final class InfoCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;

    @Option(names = {"-h", "--help"})
    boolean help;

    @Option(names = {"-f", "--format"})
    String format;

    @Option(names = "--output")
    String output;

    @Option(names = "--backing-chain")
    boolean backingChain;

    @Option(names = "--object")
    List<String> objects;

    @Option(names = "--image-opts")
    boolean imageOpts;

    @Option(names = {"-U", "--force-share"})
    boolean forceShare;

    @Parameters(arity = "0..*")
    List<String> files;

    public InfoCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer onOption(String longestName, String value) {
        return longestName.equals("--object") ? ObjectOptions.process(ctx, value) : null;
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
        List<ImageInfo> list;
        try {
            ImageOpts.Resolved r = ImageOpts.resolve(imageOpts, files.get(0), format);
            list = new InfoOperation(ChainOpener.standard())
                    .collect(r.source(), backingChain, forceShare || r.forceShare(), new StderrCheckListener(ctx));
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        if (fmt == OutputFormat.JSON) {
            ctx.out().print(backingChain ? InfoJson.renderList(list) : InfoJson.render(list.get(0)));
        } else {
            ctx.out().print(InfoText.renderList(list, InfoText.SYSTEM_ZONE));
        }
        return 0;
    }
}
