package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.cli.Diagnostics;
import dev.strata.cli.OptionHook;
import dev.strata.cli.output.InfoText;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.SnapshotInfo;
import dev.strata.engine.ops.snapshot.SnapshotOp;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code strata-img snapshot}: qemu-img 7.2's img_snapshot, whose getopt string has no -f (the
 * format is always probed, or given with --image-opts). One of -l, -c, -a, -d (a second one
 * is "Cannot mix '-l', '-a', '-c', '-d'" while parsing); --object is processed while parsing;
 * exactly one image. The list is bdrv_snapshot_dump's table ("Snapshot list:" only when there
 * are snapshots; -q does not silence it). Errors: create prints the errno as qemu-img 7.2 does
 * ("-95 (Operation not supported)"), apply the block layer's message, delete "snapshot not found"
 * or the driver's reason; all exit 1.
 */
@Command(name = "snapshot", description = "List, create, apply or delete internal snapshots.")
public final class SnapshotCommand implements Callable<Integer>, OptionHook {
    private final CliContext ctx;
    private SnapshotOp.Action action = SnapshotOp.Action.NONE;
    private String snapshotName;

    @Option(names = {"-h", "--help"}, description = "Print help and exit.")
    private boolean help;

    @Option(names = "-l", description = "List the snapshots.")
    private boolean list;

    @Option(names = "-c", description = "Create a snapshot.")
    private String create;

    @Option(names = "-a", description = "Apply a snapshot.")
    private String apply;

    @Option(names = "-d", description = "Delete a snapshot.")
    private String delete;

    @Option(names = "-q", description = "Quiet: print nothing but errors.")
    private boolean quiet;

    @Option(names = {"-U", "--force-share"}, description = "Open the image in shared mode.")
    private boolean forceShare;

    @Option(names = "--object", description = "Create a user-creatable object (secret).")
    private List<String> objects = new ArrayList<>();

    @Option(names = "--image-opts", description = "Treat the file name as an option string.")
    private boolean imageOpts;

    @Parameters(arity = "0..*", description = "The image file name.")
    private List<String> files = new ArrayList<>();

    public SnapshotCommand(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public Integer onOption(String longestName, String value) {
        SnapshotOp.Action next;
        switch (longestName) {
            case "--object":
                return ObjectOptions.process(ctx, value);
            case "-l":
                next = SnapshotOp.Action.LIST;
                break;
            case "-c":
                next = SnapshotOp.Action.CREATE;
                break;
            case "-a":
                next = SnapshotOp.Action.APPLY;
                break;
            case "-d":
                next = SnapshotOp.Action.DELETE;
                break;
            default:
                return null;
        }
        if (action != SnapshotOp.Action.NONE) {
            return Diagnostics.tryHelp(ctx, "Cannot mix '-l', '-a', '-c', '-d'");
        }
        action = next;
        snapshotName = value;
        return null;
    }

    @Override
    public Integer call() {
        if (files.size() != 1) {
            return Diagnostics.tryHelp(ctx, "Expecting one image file name");
        }
        List<SnapshotInfo> snapshots;
        try {
            ImageOpts.Resolved image = ImageOpts.resolve(imageOpts, files.get(0), null);
            snapshots = SnapshotOp.run(image.source(), action, snapshotName, forceShare || image.forceShare(),
                    nowMicros(), text -> {
                        ctx.err().print(text);
                        ctx.err().flush();
                    }, new StderrCheckListener(ctx));
        } catch (SnapshotOp.ActionFailed e) {
            e.reports().forEach(ctx::error);
            ctx.error(failure(e));
            return 1;
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        }
        if (action == SnapshotOp.Action.LIST && !snapshots.isEmpty()) {
            StringBuilder sb = new StringBuilder("Snapshot list:\n").append(InfoText.snapshotHeader()).append('\n');
            ZoneId zone = ZoneId.systemDefault();
            for (SnapshotInfo s : snapshots) {
                sb.append(InfoText.snapshotRow(s, zone)).append('\n');
            }
            ctx.out().print(sb);
            ctx.out().flush();
        }
        return 0;
    }

    /** qemu-img's line for a failed action. */
    private String failure(SnapshotOp.ActionFailed e) {
        String quoted = " snapshot '" + snapshotName + "': ";
        return switch (action) {
            case CREATE -> "Could not create" + quoted + "-" + e.kind().errno() + " ("
                    + Diagnostics.strerror(e.kind()) + ")";
            case APPLY -> "Could not apply" + quoted + (e.loadFailure()
                    ? "Failed to load snapshot: " + Diagnostics.strerror(e.kind()) : e.getMessage());
            default -> "Could not delete" + quoted + (e.getMessage() == null ? "snapshot not found" : e.getMessage());
        };
    }

    /** The wall clock in microseconds, qemu's resolution for a snapshot's date (g_get_real_time). */
    private static long nowMicros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000 + now.getNano() / 1000;
    }
}
