package dev.strata.engine.format;

/**
 * File-name arithmetic exactly as qemu does it for backing and data files, so that the names
 * we print are the names qemu-img prints (no normalisation, no canonicalisation).
 */
public final class PathNames {
    private PathNames() {
    }

    /**
     * qemu's {@code path_combine}: {@code name} when it is absolute, else {@code name} placed in
     * the directory part of {@code base} (everything up to and including its last '/'), or
     * {@code name} alone when {@code base} has no directory part.
     */
    public static String combine(String base, String name) {
        if (name.startsWith("/") || name.isEmpty()) {
            return name;
        }
        int slash = base.lastIndexOf('/');
        if (slash < 0) {
            return name;
        }
        return base.substring(0, slash + 1) + name;
    }
}
