package dev.strata.cli;

import dev.strata.cli.getopt.Getopt;
import dev.strata.cli.getopt.LongOption;
import dev.strata.engine.StrataException;

import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * qemu-img's {@code main}: global options (parsed with getopt in REQUIRE_ORDER, so they stop at
 * the verb), then the verb, whose options {@link VerbParser} parses before it runs.
 *
 * <p>Global options: -h/--help, -V/--version, -T/--trace (accepted, ignored: no tracing) and
 * our own --debug (stack traces for internal errors). Errors and exit codes are qemu-img's.
 */
final class Dispatcher {
    private static final int DEBUG_KEY = 256;
    private static final List<LongOption> GLOBAL_OPTIONS = List.of(
            new LongOption("help", false, 'h'),
            new LongOption("version", false, 'V'),
            new LongOption("trace", true, 'T'),
            new LongOption("debug", false, DEBUG_KEY));

    private Dispatcher() {
    }

    static int dispatch(String[] args, CliContext ctx) {
        if (args.length == 0) {
            return Diagnostics.tryHelp(ctx, "Not enough arguments");
        }
        String[] argv = new String[args.length + 1];
        argv[0] = ctx.programName();
        System.arraycopy(args, 0, argv, 1, args.length);
        Getopt g = new Getopt(argv, "+:hVT:", GLOBAL_OPTIONS);
        for (int c = g.next(); c != Getopt.END; c = g.next()) {
            switch (c) {
                case Getopt.MISSING:
                    return Diagnostics.tryHelp(ctx, "missing argument for option '" + g.argv()[g.optind() - 1] + "'");
                case Getopt.UNKNOWN:
                    return Diagnostics.tryHelp(ctx, "unrecognized option '" + g.argv()[g.optind() - 1] + "'");
                case 'h':
                    HelpText.printHelp(ctx);
                    return 0;
                case 'V':
                    HelpText.printVersion(ctx);
                    return 0;
                case 'T':
                    break;
                case DEBUG_KEY:
                    ctx = new CliContext(ctx.out(), ctx.err(), ctx.programName(), true);
                    break;
                default:
                    throw new IllegalStateException("unexpected option " + c);
            }
        }
        if (g.optind() >= argv.length) {
            return 0;
        }
        String name = g.argv()[g.optind()];
        String[] verbArgs = Arrays.copyOfRange(g.argv(), g.optind() + 1, argv.length);
        Object verb = Verbs.create(name, ctx);
        if (verb == null) {
            return Diagnostics.tryHelp(ctx, "Command not found: " + name);
        }
        return run(name, verb, verbArgs, ctx);
    }

    private static int run(String name, Object verb, String[] args, CliContext ctx) {
        try {
            Integer stop = VerbParser.parse(name, args, verb, ctx);
            if (stop != null) {
                return stop;
            }
            Integer code = ((Callable<?>) verb).call() instanceof Integer i ? i : 1;
            return code;
        } catch (StrataException e) {
            ctx.error(e);
            return 1;
        } catch (Exception e) {
            ctx.error("internal error: " + e);
            if (ctx.debug()) {
                e.printStackTrace(ctx.err());
            }
            return 1;
        } finally {
            ctx.out().flush();
        }
    }
}
