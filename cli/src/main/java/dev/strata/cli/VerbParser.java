package dev.strata.cli;

import dev.strata.cli.getopt.Getopt;
import dev.strata.cli.getopt.LongOption;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses a verb's arguments the way qemu-img does, with getopt_long, from the options the verb
 * declares with picocli annotations (read through {@link VerbOptionTable}, which has them
 * from a build-time index rather than from reflection): every {@code -x} name becomes a short option, every
 * {@code --name} a long one, booleans take no argument and everything else a required one.
 *
 * <p>Parsing goes through {@link Getopt} rather than picocli's own parser so that permutation,
 * clusters, abbreviations and qemu-img's messages ("unrecognized option '%s'", "missing
 * argument for option '%s'", which quote getopt's {@code argv[optind-1]}) are exactly
 * qemu-img's. Values land in the verb's annotated fields; non-option
 * arguments go, in getopt's permuted order, to the verb's first positional parameter.
 * {@code -h}/{@code --help} prints the global help at once and ends the verb with 0, as
 * qemu-img's {@code help()} does; so does a bad option for a {@link HelpOnBadOption} verb, after
 * glibc's own diagnostic.
 */
final class VerbParser {
    private VerbParser() {
    }

    /**
     * Parses {@code args} (without the verb name) into {@code verb}.
     *
     * @return null when the verb should run, or the exit code to end with
     */
    static Integer parse(String verbName, String[] args, Object verb, CliContext ctx) {
        if (verb instanceof TrailingOperand t) {
            args = t.takeTrailingOperand(args);
            if (args == null) {
                return 1;
            }
        }
        VerbOptionTable table = VerbOptionTable.of(verb);
        StringBuilder optstring = new StringBuilder(":");
        List<LongOption> longs = new ArrayList<>();
        Map<Integer, VerbOptionTable.Option> byKey = new HashMap<>();
        int nextKey = 256;
        for (VerbOptionTable.Option o : table.options()) {
            boolean hasArg = o.takesArgument();
            Integer shortKey = null;
            for (String name : o.names()) {
                if (name.length() == 2 && name.charAt(0) == '-' && name.charAt(1) != '-') {
                    shortKey = (int) name.charAt(1);
                    optstring.append(name.charAt(1)).append(hasArg ? ":" : "");
                }
            }
            int key = shortKey != null ? shortKey : nextKey++;
            byKey.put(key, o);
            for (String name : o.names()) {
                if (name.startsWith("--")) {
                    longs.add(new LongOption(name.substring(2), hasArg, key));
                }
            }
        }
        String[] argv = new String[args.length + 1];
        argv[0] = verbName;
        System.arraycopy(args, 0, argv, 1, args.length);
        Getopt g = new Getopt(argv, optstring.toString(), longs);
        for (int c = g.next(); c != Getopt.END; c = g.next()) {
            if ((c == Getopt.MISSING || c == Getopt.UNKNOWN) && verb instanceof HelpOnBadOption) {
                ctx.unprefixedError(verbName + ": " + g.message());
                HelpText.printHelp(ctx);
                return 0;
            }
            if (c == Getopt.MISSING) {
                return Diagnostics.tryHelp(ctx, "missing argument for option '" + g.argv()[g.optind() - 1] + "'");
            }
            if (c == Getopt.UNKNOWN) {
                return Diagnostics.tryHelp(ctx, "unrecognized option '" + g.argv()[g.optind() - 1] + "'");
            }
            VerbOptionTable.Option o = byKey.get(c);
            if (o.names().contains("-h") || o.names().contains("--help")) {
                HelpText.printHelp(ctx);
                return 0;
            }
            table.store(verb, o, g.optarg());
            if (verb instanceof OptionHook hook) {
                Integer stop = hook.onOption(o.longestName(), g.optarg());
                if (stop != null) {
                    return stop;
                }
            }
        }
        List<String> rest = new ArrayList<>(Arrays.asList(g.argv()).subList(g.optind(), g.argv().length));
        // Verbs declare one List<String> positional and check the count themselves, with
        // qemu-img's wording; a single String positional gets the first operand.
        table.storeOperands(verb, rest);
        return null;
    }
}
