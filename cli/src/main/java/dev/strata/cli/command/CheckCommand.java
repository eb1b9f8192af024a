package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.output.CheckJson;
import dev.strata.cli.output.CheckText;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow2.check.RepairMode;
import dev.strata.engine.ops.check.CheckOp;
import dev.strata.engine.ops.check.CheckOutcome;
import dev.strata.engine.ops.check.CheckReport;
import dev.strata.engine.ops.check.CheckSteps;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code strata-img check}: qemu-img check (img_check). The checker's findings go to stderr as
 * they are found (qemu prints most of them verbatim, a few through error_report); the report goes
 * to stdout, human or JSON. With {@code -r leaks|all} the image is repaired first; when anything
 * was fixed, qemu-img says so (human output only), checks again and reports that second check
 * with the fixed counts of the first.
 *
 * <p>Exit codes (qemu-img's): 0 clean, 1 check not completed (internal errors, usage, open
 * failure), 2 corruptions, 3 leaks only, 63 the format has no checks.
 */
@Command(name = "check", description = "Check the image for consistency.")
public final class CheckCommand implements Callable<Integer> {
    private static final Set<String> CACHE_MODES = Set.of("none", "off", "directsync", "writeback", "unsafe",
            "writethrough");

    private final CliContext ctx;

    @Option(names = {"-h", "--help"}, description = "Print help and exit.")
    private boolean help;

    @Option(names = {"-f", "--format"}, description = "Image format (probed when absent).")
    private String format;

    @Option(names = {"-r", "--repair"}, description = "Repair 'leaks' or 'all'.")
    private String repair;

    @Option(names = "--output", description = "Output format: human or json.")
    private String output;

    @Option(names = "--object", description = "Create a user-creatable object (secret).")
    private List<String> objects = new ArrayList<>();

    @Option(names = "--image-opts", description = "Treat the file name as an option string.")
    private boolean imageOpts;

    @Option(names = "-T", description = "Cache mode of the source (accepted, no effect).")
    private String cache = "writeback";

    @Option(names = "-q", description = "Quiet: print nothing but errors.")
    private boolean quiet;

    @Option(names = {"-U", "--force-share"}, description = "Open the image in shared mode.")
    private boolean forceShare;

    @Parameters(arity = "0..*", description = "The image file name.")
    private List<String> files = new ArrayList<>();

    public CheckCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer call() {
        // qemu-img validates -r and creates --object objects while it parses the options, so
        // these come before the other argument checks.
        if (repair != null && !repair.equals("leaks") && !repair.equals("all")) {
            return Diagnostics.tryHelp(ctx, "Unknown option value for -r (expecting 'leaks' or 'all'): " + repair);
        }
        for (String definition : objects) {
            Integer stop = ObjectOptions.process(ctx, definition);
            if (stop != null) {
                return stop;
            }
        }
        if (files.size() != 1) {
            return Diagnostics.tryHelp(ctx, "Expecting one image file name");
        }
        boolean json;
        if (output == null || output.equals("human")) {
            json = false;
        } else if (output.equals("json")) {
            json = true;
        } else {
            ctx.error("--output must be used with human or json as argument.");
            return 1;
        }
        if (!CACHE_MODES.contains(cache)) {
            ctx.error("Invalid source cache option: " + cache);
            return 1;
        }
        RepairMode fix = repair == null ? null : repair.equals("all") ? RepairMode.ALL : RepairMode.LEAKS;
        CheckOutcome outcome;
        try {
            ImageOpts.Resolved image = ImageOpts.resolve(imageOpts, files.get(0), format);
            boolean share = forceShare || image.forceShare();
            outcome = CheckOp.run(image.source(), share, fix, new StderrCheckListener(ctx), new CheckSteps() {
                @Override
                public void repaired(CheckReport fixed) {
                    printRepairNotice(fixed, json);
                }

                @Override
                public void finished(CheckOutcome done) {
                    printOutcome(done, json);
                }
            });
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        return outcome.exitCode();
    }

    /** The report or the failure, as qemu-img prints it before it closes the image. */
    private void printOutcome(CheckOutcome outcome, boolean json) {
        if (outcome instanceof CheckOutcome.Unsupported) {
            ctx.error("This image format does not support checks");
        } else if (outcome instanceof CheckOutcome.Aborted a) {
            ctx.error("Check failed: " + a.reason());
        } else if (outcome instanceof CheckOutcome.Completed c) {
            if (!quiet) {
                ctx.out().print(json ? CheckJson.render(c.report()) : CheckText.render(c.report()));
                ctx.out().flush();
            }
            if (c.report().checkErrors() > 0) {
                ctx.error("Check failed");
            }
        }
    }

    /**
     * What qemu-img prints on stdout between a repair that fixed something and its second check
     * (human output, not quiet).
     */
    private void printRepairNotice(CheckReport fixed, boolean json) {
        if (!json && !quiet) {
            ctx.out().print("The following inconsistencies were found and repaired:\n\n"
                    + "    " + fixed.leaksFixed() + " leaked clusters\n"
                    + "    " + fixed.corruptionsFixed() + " corruptions\n\n"
                    + "Double checking the fixed image now...\n");
        }
    }
}
