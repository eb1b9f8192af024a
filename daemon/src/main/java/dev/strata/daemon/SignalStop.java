package dev.strata.daemon;

import jnr.ffi.LibraryLoader;
import sun.misc.Signal;

/**
 * SIGTERM and SIGINT stop the daemon cleanly and the process exits 0 (the JVM's own handling
 * would exit 143/130). A signal that arrives while the daemon is still starting is remembered
 * and acted on as soon as it is attached.
 *
 * <p>A shell starts background jobs with SIGINT ignored, and the JVM refuses to handle a signal
 * that was ignored at start; like qemu-nbd (which installs its handlers unconditionally), the
 * daemon first puts SIGINT and SIGTERM back to their default disposition through libc.
 *
 * <p>The JVM keeps its own handler installed for these signals, so libfuse (which only takes
 * over signals still at SIG_DFL) leaves them alone.
 */
final class SignalStop {
    private volatile Daemon daemon;
    private volatile boolean signalled;

    private SignalStop() {
    }

    static SignalStop install() {
        SignalStop s = new SignalStop();
        resetIgnored();
        for (String name : new String[] {"TERM", "INT"}) {
            try {
                Signal.handle(new Signal(name), sig -> s.onSignal(sig.getName()));
            } catch (IllegalArgumentException e) {
                // signal not available (e.g. -Xrs): the JVM default applies
            }
        }
        return s;
    }

    /** libc's {@code signal(2)}, enough to undo an inherited SIG_IGN. */
    public interface LibC {
        long signal(int signum, long handler);
    }

    private static void resetIgnored() {
        try {
            LibC libc = LibraryLoader.create(LibC.class).load("c");
            final long sigDfl = 0;
            final long sigIgn = 1;
            for (int sig : new int[] {2, 15}) {
                long old = libc.signal(sig, sigDfl);
                if (old != sigIgn && old != sigDfl && old != -1) {
                    libc.signal(sig, old);
                }
            }
        } catch (RuntimeException | LinkageError e) {
            // without libc access the inherited disposition stays
            Log.trace(e);
        }
    }

    private void onSignal(String name) {
        Log.info("SIG" + name + ": shutting down");
        signalled = true;
        Daemon d = daemon;
        if (d != null) {
            d.stop();
        }
    }

    void attach(Daemon d) {
        daemon = d;
        if (signalled) {
            d.stop();
        }
    }
}
