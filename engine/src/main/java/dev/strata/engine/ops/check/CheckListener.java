package dev.strata.engine.ops.check;

/**
 * Where a checker reports what it finds while it runs, in the order it finds it. qemu writes
 * these to stderr as it goes, some verbatim ({@code fprintf(stderr, ...)}: "ERROR cluster 5
 * refcount=0 reference=1", "Leaked cluster ..."), some through {@code error_report}, which puts
 * the program name in front. The face decides where both go.
 *
 * <p>Called on the checking thread only.
 */
public interface CheckListener {

    /** A line qemu prints verbatim on stderr (without the trailing newline). */
    void line(String text);

    /** A message qemu prints with {@code error_report} ("PROGRAM: message"). */
    void error(String message);

    /** Text qemu prints verbatim without adding a newline (an error hint, ends in "\n"). */
    void raw(String text);

    /** A listener that drops everything. */
    static CheckListener ignoring() {
        return new CheckListener() {
            @Override
            public void line(String text) {
            }

            @Override
            public void error(String message) {
            }

            @Override
            public void raw(String text) {
            }
        };
    }
}
