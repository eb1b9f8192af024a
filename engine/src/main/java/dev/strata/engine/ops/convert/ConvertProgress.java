package dev.strata.engine.ops.convert;

/** Told how far a convert has come, in percent of the sectors it must write (qemu's -p). */
@FunctionalInterface
public interface ConvertProgress {
    /** Reports nothing. A class, not a lambda: most converts use it (see HostFiles.Binding). */
    ConvertProgress NONE = new ConvertProgress() {
        @Override
        public void reached(double percent) {
        }
    };

    /** The copy has reached {@code percent} (0..100) of the data it writes. */
    void reached(double percent);
}
