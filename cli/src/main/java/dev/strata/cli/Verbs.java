package dev.strata.cli;

import dev.strata.cli.command.AmendCommand;
import dev.strata.cli.command.BenchCommand;
import dev.strata.cli.command.BitmapCommand;
import dev.strata.cli.command.CheckCommand;
import dev.strata.cli.command.CommitCommand;
import dev.strata.cli.command.CompareCommand;
import dev.strata.cli.command.ConvertCommand;
import dev.strata.cli.command.CreateCommand;
import dev.strata.cli.command.DdCommand;
import dev.strata.cli.command.InfoCommand;
import dev.strata.cli.command.MapCommand;
import dev.strata.cli.command.MeasureCommand;
import dev.strata.cli.command.RebaseCommand;
import dev.strata.cli.command.ResizeCommand;
import dev.strata.cli.command.SnapshotCommand;

import java.util.List;

/**
 * The qemu-img verbs strata-img knows. Each verb is a picocli {@code @Command} object
 * implementing {@code Callable<Integer>} (its exit code), built from the {@link CliContext} it
 * must write to; its options are parsed by {@link VerbParser} with qemu-img's getopt rules.
 *
 * <p>Register a verb with one line in {@link #NAMES} and one case in {@link #create}. A switch
 * rather than a table of constructor references: a command then loads the one verb class it
 * runs, and no lambda is linked for the fourteen others (start-up time of a short command).
 * {@code VerbsTest} checks that the two lists agree.
 */
final class Verbs {
    private static final List<String> NAMES = List.of("amend", "bench", "bitmap", "check", "commit", "compare",
            "convert", "create", "dd", "info", "map", "measure", "rebase", "resize", "snapshot");

    private Verbs() {
    }

    /** The verb called {@code name}, built for {@code ctx}, or null if unknown. */
    static Object create(String name, CliContext ctx) {
        return switch (name) {
            case "amend" -> new AmendCommand(ctx);
            case "bench" -> new BenchCommand(ctx);
            case "bitmap" -> new BitmapCommand(ctx);
            case "check" -> new CheckCommand(ctx);
            case "commit" -> new CommitCommand(ctx);
            case "compare" -> new CompareCommand(ctx);
            case "convert" -> new ConvertCommand(ctx);
            case "create" -> new CreateCommand(ctx);
            case "dd" -> new DdCommand(ctx);
            case "info" -> new InfoCommand(ctx);
            case "map" -> new MapCommand(ctx);
            case "measure" -> new MeasureCommand(ctx);
            case "rebase" -> new RebaseCommand(ctx);
            case "resize" -> new ResizeCommand(ctx);
            case "snapshot" -> new SnapshotCommand(ctx);
            default -> null;
        };
    }

    /** Whether {@code name} is a registered verb. */
    static boolean isKnown(String name) {
        return NAMES.contains(name);
    }

    /** Names of the registered verbs, in alphabetical order. */
    static List<String> names() {
        return NAMES;
    }
}
