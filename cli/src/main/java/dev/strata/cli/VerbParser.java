package dev.strata.cli;

import dev.strata.cli.getopt.Getopt;
import dev.strata.cli.getopt.LongOption;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses a verb's arguments the way qemu-img does, with getopt_long, from the options the verb
 * declares with picocli annotations: every {@code -x} name becomes a short option, every
 * {@code --name} a long one, booleans take no argument and everything else a required one.
 *
 * <p>Parsing goes through {@link Getopt} rather than picocli's own parser so that permutation,
 * clusters, abbreviations and qemu-img's messages ("unrecognized option '%s'", "missing
 * argument for option '%s'", which quote getopt's {@code argv[optind-1]}) are exactly
 * qemu-img's. Values land in the picocli model (the verb's annotated fields); non-option
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
        CommandSpec spec = CommandSpec.forAnnotatedObject(verb);
        StringBuilder optstring = new StringBuilder(":");
        List<LongOption> longs = new ArrayList<>();
        Map<Integer, OptionSpec> byKey = new HashMap<>();
        int nextKey = 256;
        for (OptionSpec o : spec.options()) {
            boolean hasArg = o.arity().max() > 0;
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
            OptionSpec o = byKey.get(c);
            if (Arrays.asList(o.names()).contains("-h") || Arrays.asList(o.names()).contains("--help")) {
                HelpText.printHelp(ctx);
                return 0;
            }
            store(o, g.optarg());
            if (verb instanceof OptionHook hook) {
                Integer stop = hook.onOption(o.longestName(), g.optarg());
                if (stop != null) {
                    return stop;
                }
            }
        }
        List<String> rest = new ArrayList<>(Arrays.asList(g.argv()).subList(g.optind(), g.argv().length));
        List<PositionalParamSpec> positionals = spec.positionalParameters();
        if (!positionals.isEmpty()) {
            // Verbs declare one List<String> positional and check the count themselves, with
            // qemu-img's wording; a single String positional gets the first operand.
            PositionalParamSpec p = positionals.get(0);
            if (List.class.isAssignableFrom(p.type())) {
                p.setValue(rest);
            } else {
                p.setValue(rest.isEmpty() ? null : rest.get(0));
            }
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    private static void store(OptionSpec o, String value) {
        if (o.arity().max() == 0) {
            o.setValue(Boolean.TRUE);
        } else if (List.class.isAssignableFrom(o.type())) {
            Object current = o.getValue();
            List<String> list = current == null ? new ArrayList<>() : new ArrayList<>((List<String>) current);
            list.add(value);
            o.setValue(list);
        } else {
            o.setValue(value);
        }
    }
}
