package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.engine.ops.check.CheckListener;

/**
 * A qcow2 check's findings on strata-img's stderr, printed as qemu-img prints them: lines qemu
 * writes with a plain fprintf verbatim ("Leaked cluster 6 refcount=1 reference=0"), its
 * error_report messages after the program name ("strata-img: ERROR writing refblock: ..."),
 * hint text as it is. One formatting for both places qemu prints a check: {@code check} itself
 * and the repair qemu's open runs on a dirty image opened read-write ({@code
 * OpenOptions.withDiagnostics}).
 */
final class StderrCheckListener implements CheckListener {
    private final CliContext ctx;

    StderrCheckListener(CliContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void line(String text) {
        ctx.err().println(text);
    }

    @Override
    public void error(String message) {
        ctx.error(message);
    }

    @Override
    public void raw(String text) {
        ctx.err().print(text);
    }
}
