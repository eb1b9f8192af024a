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

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * The qemu-img verbs strata-img knows. Each verb is a picocli {@code @Command} object
 * implementing {@code Callable<Integer>} (its exit code), built from the {@link CliContext} it
 * must write to; its options are parsed by {@link VerbParser} with qemu-img's getopt rules.
 * Register a verb with one line in the static block.
 */
final class Verbs {
    private static final Map<String, Function<CliContext, Object>> VERBS = new LinkedHashMap<>();

    static {
        VERBS.put("amend", AmendCommand::new);
        VERBS.put("bench", BenchCommand::new);
        VERBS.put("bitmap", BitmapCommand::new);
        VERBS.put("check", CheckCommand::new);
        VERBS.put("commit", CommitCommand::new);
        VERBS.put("compare", CompareCommand::new);
        VERBS.put("convert", ConvertCommand::new);
        VERBS.put("create", CreateCommand::new);
        VERBS.put("dd", DdCommand::new);
        VERBS.put("info", InfoCommand::new);
        VERBS.put("map", MapCommand::new);
        VERBS.put("measure", MeasureCommand::new);
        VERBS.put("rebase", RebaseCommand::new);
        VERBS.put("resize", ResizeCommand::new);
        VERBS.put("snapshot", SnapshotCommand::new);
    }

    private Verbs() {
    }

    /** The verb called {@code name}, built for {@code ctx}, or null if unknown. */
    static Object create(String name, CliContext ctx) {
        Function<CliContext, Object> f = VERBS.get(name);
        return f == null ? null : f.apply(ctx);
    }

    /** Whether {@code name} is a registered verb. */
    static boolean isKnown(String name) {
        return VERBS.containsKey(name);
    }

    /** Names of the registered verbs. */
    static Iterable<String> names() {
        return VERBS.keySet();
    }
}
