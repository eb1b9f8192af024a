package dev.strata.daemon;

import dev.strata.engine.ops.check.CheckListener;

import java.io.PrintStream;

/**
 * The daemon's diagnostics on stderr, one line each, prefixed with the program name like
 * qemu-nbd's. {@link #info} lines appear only with {@code -v}; {@link #warn} always. Stack traces
 * are printed only with {@code --debug}. What opening an image prints ({@link #diagnostics}) goes
 * here too, as qemu-nbd prints it.
 */
public final class Log {
    private static volatile boolean verbose;
    private static volatile boolean debug;
    private static volatile String program = "stratad";
    private static volatile PrintStream err = System.err;

    private Log() {
    }

    /** Sets the switches from the command line. */
    public static void configure(String programName, boolean verboseOn, boolean debugOn) {
        program = programName;
        verbose = verboseOn || debugOn;
        debug = debugOn;
    }

    public static boolean verbose() {
        return verbose;
    }

    public static boolean debug() {
        return debug;
    }

    public static String program() {
        return program;
    }

    /** A line shown only with {@code -v}. */
    public static void info(String message) {
        if (verbose) {
            err.println(program + ": " + message);
        }
    }

    /** A line always shown. */
    public static void warn(String message) {
        err.println(program + ": " + message);
    }

    /** A line always shown, with the stack trace of {@code t} under {@code --debug}. */
    public static void warn(String message, Throwable t) {
        err.println(program + ": " + message);
        if (debug && t != null) {
            t.printStackTrace(err);
        }
    }

    /** The stack trace of {@code t}, under {@code --debug} only. */
    public static void trace(Throwable t) {
        if (debug && t != null) {
            t.printStackTrace(err);
        }
    }

    /**
     * Where an image's open prints what qemu's open prints (the stale-bitmaps warning and its
     * hint, a dirty image's repair lines): lines as they are, errors after the program name.
     */
    public static CheckListener diagnostics() {
        return new CheckListener() {
            @Override
            public void line(String text) {
                err.println(text);
            }

            @Override
            public void error(String message) {
                err.println(program + ": " + message);
            }

            @Override
            public void raw(String text) {
                err.print(text);
            }
        };
    }
}
