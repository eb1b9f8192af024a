package dev.strata.engine.image;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * An ascending, contiguous, merged run of {@link Extent}s, built one entry at a time the way
 * qemu-img map builds its output: an entry that continues the last one with the same status is
 * folded into it.
 */
public final class ExtentList {
    private final List<Extent> extents = new ArrayList<>();

    /**
     * Appends {@code e}, merging it into the last entry when qemu-img would.
     *
     * @throws IllegalArgumentException if {@code e} does not start where the list ends
     */
    public void add(Extent e) {
        if (e.length() <= 0) {
            return;
        }
        if (extents.isEmpty()) {
            extents.add(e);
            return;
        }
        Extent last = extents.get(extents.size() - 1);
        if (last.end() != e.start()) {
            throw new IllegalArgumentException("extent at " + e.start() + " does not follow " + last.end());
        }
        if (last.mergeableWith(e)) {
            extents.set(extents.size() - 1, last.extendedBy(e));
        } else {
            extents.add(e);
        }
    }

    /** End of the covered range, or {@code fallback} when empty. */
    public long end(long fallback) {
        return extents.isEmpty() ? fallback : extents.get(extents.size() - 1).end();
    }

    /** The entries, ascending and merged. */
    public List<Extent> toList() {
        return Collections.unmodifiableList(extents);
    }
}
