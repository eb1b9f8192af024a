package dev.strata.engine.format;

/**
 * Where a format driver reports {@link CorruptionEvent}s. Carried in {@link OpenOptions}; a
 * driver calls it at most once per open layer (qemu suppresses every later non-fatal event of
 * the same image), from whichever thread found the problem, before the failing request throws.
 *
 * <p>Implementations must be thread-safe and must not throw.
 */
@FunctionalInterface
public interface CorruptionListener {
    /** Drops every event (the default for opens that nobody watches). */
    CorruptionListener IGNORE = new CorruptionListener() {
        @Override
        public void corruptionFound(CorruptionEvent event) {
        }
    };

    /** Called once per layer, the first time its driver finds inconsistent metadata. */
    void corruptionFound(CorruptionEvent event);
}
