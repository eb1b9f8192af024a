package dev.strata.daemon.fuse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Reads {@code /proc/self/mountinfo} to tell whether a directory is a mount point and of what
 * file-system type ({@code fuse.stratad}, {@code fuse}, ...). Lines look like
 * {@code 36 35 98:0 / /mnt rw,noatime master:1 - fuse.stratad stratad ro,...}; the mount point
 * has spaces and such escaped as octal ({@code \040}).
 */
final class MountTable {
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private MountTable() {
    }

    /** The file-system type mounted at {@code mountPoint} (absolute, normalised), if any; the last mount wins. */
    static Optional<String> typeAt(Path mountPoint) {
        List<String> lines;
        try {
            lines = Files.readAllLines(MOUNTINFO);
        } catch (IOException e) {
            return Optional.empty();
        }
        String want = mountPoint.toString();
        String found = null;
        for (String line : lines) {
            String[] f = line.split(" ");
            if (f.length < 7 || !unescape(f[4]).equals(want)) {
                continue;
            }
            for (int i = 6; i + 1 < f.length; i++) {
                if ("-".equals(f[i])) {
                    found = f[i + 1];
                    break;
                }
            }
        }
        return Optional.ofNullable(found);
    }

    /** Undoes the kernel's octal escapes ({@code \040} for space, {@code \011}, {@code \012}, {@code \134}). */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1) && isOctal(s, i + 2) && isOctal(s, i + 3)) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static boolean isOctal(String s, int i) {
        return i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '7';
    }
}
