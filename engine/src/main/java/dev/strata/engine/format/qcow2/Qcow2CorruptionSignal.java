package dev.strata.engine.format.qcow2;

/*
 * Design note: qemu's qcow2_signal_corruption. qemu reports the first inconsistency it meets in
 * an image's metadata on stderr and suppresses the later non-fatal ones; when the image is
 * writable the event is fatal: the image is marked corrupt on disk (the writer sets the bit) and
 * qemu says so in other words. Events are reported at most once per open layer (one object per
 * driver), and the failing request gets an EIO with the same reason.
 */

import dev.strata.engine.StrataException;
import dev.strata.engine.format.CorruptionEvent;
import dev.strata.engine.format.CorruptionListener;

import java.util.concurrent.atomic.AtomicBoolean;

/** Reports metadata corruption of one open qcow2 layer, once. Thread-safe. */
final class Qcow2CorruptionSignal {
    private final String fileName;
    private final CorruptionListener listener;
    private final AtomicBoolean signaled = new AtomicBoolean();

    Qcow2CorruptionSignal(String fileName, CorruptionListener listener) {
        this.fileName = fileName;
        this.listener = listener;
    }

    /**
     * Reports {@code reason} unless this layer already reported a corruption, and returns the
     * EIO the failing request throws: {@code throw signal.corruption("...")}.
     */
    StrataException corruption(String reason) {
        return signal(reason, false);
    }

    private StrataException signal(String reason, boolean fatal) {
        if (signaled.compareAndSet(false, true)) {
            listener.corruptionFound(new CorruptionEvent(Qcow2Format.NAME, fileName, reason, fatal));
        }
        return StrataException.io(reason);
    }

    /**
     * A corruption found while writing, after which qemu marks the image corrupt (the caller sets
     * the bit): reported, with qemu's "Marking image as corrupt" wording, unless one was already,
     * and the EIO to throw.
     */
    StrataException fatal(String reason) {
        return signal(reason, true);
    }
}
