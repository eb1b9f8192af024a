package dev.strata.cli;

import picocli.CommandLine;

import java.util.Arrays;

/**
 * Splits a qemu-img command line into global options, the verb and the verb's arguments, and
 * runs the verb with picocli.
 */
final class Dispatcher {
    private Dispatcher() {
    }

    static int dispatch(String[] args, CliContext ctx) {
        if (args.length == 0) {
            ctx.error("Not enough arguments");
            ctx.err().println("Try '" + ctx.programName() + " --help' for more information");
            return 1;
        }
        Object verb = Verbs.create(args[0], ctx);
        if (verb == null) {
            ctx.error("Command not found: " + args[0]);
            return 1;
        }
        CommandLine cl = new CommandLine(verb);
        return cl.execute(Arrays.copyOfRange(args, 1, args.length));
    }
}
