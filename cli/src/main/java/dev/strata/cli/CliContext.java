package dev.strata.cli;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.CorruptionEvent;
import dev.strata.engine.format.CorruptionListener;

import java.io.PrintStream;

/**
 * Where a command writes and under which name it reports errors. Tests run the CLI in-process
 * with their own streams; the launcher passes the program name it was called by (qemu-img also
 * prints the basename of argv[0] before its errors).
 *
 * @param programName prefix of error lines ("strata-img")
 * @param debug       print stack traces of unexpected failures
 */
public record CliContext(PrintStream out, PrintStream err, String programName, boolean debug) {

    /**
     * Prints {@code programName: message} on stderr, as qemu's error_report does, after
     * flushing what is pending on stdout so the two streams keep their order on a terminal.
     */
    public void error(String message) {
        out.flush();
        err.println(programName + ": " + message);
    }

    /**
     * Prints {@code line} on stderr as it is, without the program name, for the diagnostics qemu
     * writes with a plain fprintf (such as qcow2's corruption warnings); stdout is flushed first.
     */
    public void unprefixedError(String line) {
        out.flush();
        err.println(line);
    }

    /**
     * A listener that prints each image's corruption warning the way qemu does
     * ("qcow2: Image is corrupt: ...; further non-fatal corruption events will be suppressed").
     */
    public CorruptionListener corruptionReporter() {
        // A class, not a lambda: every command that opens an image asks for one, and a lambda
        // costs start-up (see StartupLambdaTest).
        return new CorruptionListener() {
            @Override
            public void corruptionFound(CorruptionEvent event) {
                unprefixedError(event.message());
            }
        };
    }

    /** Prints the error line of {@code e}, and its stack trace with --debug. */
    public void error(StrataException e) {
        error(e.getMessage());
        if (debug) {
            e.printStackTrace(err);
        }
    }
}
