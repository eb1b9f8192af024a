package dev.strata.engine.format;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;

import java.util.Locale;
import java.util.Set;

/**
 * File-name arithmetic exactly as qemu does it for backing and data files, so that the names
 * we print are the names qemu-img prints (no normalisation, no canonicalisation).
 */
public final class PathNames {
    private PathNames() {
    }

    /** Protocols whose nodes have no base directory (qemu's nbd_dirname refuses). */
    private static final Set<String> NO_BASE_DIRECTORY = Set.of("nbd", "nbd+tcp", "nbd+unix");

    /**
     * qemu's {@code bdrv_make_absolute_filename} with {@code path_combine}: {@code name} when it
     * is absolute or has a protocol prefix ({@code nbd://...}), else {@code name} placed in the
     * directory part of {@code base} (everything up to and including its last '/'), or
     * {@code name} alone when {@code base} has no directory part.
     *
     * @throws StrataException EINVAL "Cannot generate a base directory for NBD nodes" when
     *         {@code name} is relative and {@code base} is an NBD URL
     */
    public static String combine(String base, String name) {
        if (name.startsWith("/") || name.isEmpty() || hasProtocol(name)) {
            return name;
        }
        String protocol = protocolOf(base);
        if (protocol != null && NO_BASE_DIRECTORY.contains(protocol.toLowerCase(Locale.ROOT))) {
            throw new StrataException(ErrorKind.EINVAL, "Cannot generate a base directory for NBD nodes");
        }
        int slash = base.lastIndexOf('/');
        if (slash < 0) {
            return name;
        }
        return base.substring(0, slash + 1) + name;
    }

    /** qemu's {@code path_has_protocol}: a ':' comes before any '/'. */
    public static boolean hasProtocol(String name) {
        return protocolOf(name) != null;
    }

    /** The protocol prefix of {@code name} (before the first ':', if no '/' precedes it), or null. */
    public static String protocolOf(String name) {
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '/') {
                return null;
            }
            if (c == ':') {
                return name.substring(0, i);
            }
        }
        return null;
    }
}
