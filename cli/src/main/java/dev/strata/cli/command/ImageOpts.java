package dev.strata.cli.command;

import dev.strata.cli.nbd.NbdStorageResolver;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatRegistry;
import dev.strata.engine.ops.info.ImageSource;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.Storage;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * qemu-img's image arguments: a file name with an optional {@code -f}, or with
 * {@code --image-opts} a QemuOpts string such as {@code driver=qcow2,file.filename=x.qcow2}
 * (",," escapes a comma; a first element without '=' is the implied "file" key, which names a
 * block node and so cannot be opened offline, exactly as qemu-img reports).
 *
 * <p>Understood keys: {@code driver}, {@code file.filename}, {@code file.driver} (only
 * "file"), {@code force-share}, and options that change nothing for a read-only offline open
 * (node-name, read-only, auto-read-only, discard, detect-zeroes, cache.*, file.locking,
 * file.aio). Anything else is refused with qemu's "does not support the option" wording.
 */
public final class ImageOpts {
    private static final Set<String> IGNORED_FORMAT_KEYS = Set.of("node-name", "read-only", "auto-read-only",
            "discard", "detect-zeroes", "cache.direct", "cache.no-flush", "force-share");
    private static final Set<String> IGNORED_FILE_KEYS = Set.of("locking", "aio", "node-name", "read-only",
            "auto-read-only", "cache.direct", "cache.no-flush", "discard", "detect-zeroes");

    private ImageOpts() {
    }

    /** What to open, and whether the option string asked for force-share. */
    public record Resolved(ImageSource source, boolean forceShare) {
    }

    /**
     * Resolves one image argument as img_open does.
     *
     * @throws StrataException with qemu-img's complete message
     */
    public static Resolved resolve(boolean imageOpts, String argument, String format) {
        if (!imageOpts) {
            return new Resolved(new ImageSource(NbdStorageResolver.displayName(argument), format, argument), false);
        }
        if (format != null) {
            throw StrataException.invalid("--image-opts and --format are mutually exclusive");
        }
        Map<String, String> opts = parse(argument);
        try {
            return fromOptions(opts, argument);
        } catch (StrataException e) {
            throw new StrataException(e.kind(), "Could not open '" + argument + "': " + e.getMessage(), e);
        }
    }

    private static Resolved fromOptions(Map<String, String> opts, String argument) {
        if (opts.containsKey("file")) {
            String node = opts.get("file");
            throw new StrataException(ErrorKind.ENOENT,
                    "Cannot find device='" + node + "' nor node-name='" + node + "'");
        }
        String driver = opts.get("driver");
        String fileName = opts.get("file.filename");
        String fileDriver = opts.get("file.driver");
        if (driver == null && fileName == null && fileDriver == null) {
            throw StrataException.invalid("Must specify either driver or file");
        }
        if ("file".equals(driver)) {
            throw StrataException.unsupported("The protocol driver 'file' cannot be opened as an image by strata-img;"
                    + " use driver=raw,file.filename=NAME");
        }
        if (fileDriver != null && !fileDriver.equals("file")) {
            throw StrataException.unsupported("Block protocol '" + fileDriver + "' is not supported by strata-img");
        }
        for (String key : opts.keySet()) {
            if (key.startsWith("file.")) {
                String sub = key.substring(5);
                if (!sub.equals("filename") && !sub.equals("driver") && !IGNORED_FILE_KEYS.contains(sub)
                        && !sub.startsWith("cache.")) {
                    throw StrataException.invalid("Block protocol 'file' doesn't support the option '" + sub + "'");
                }
            }
        }
        if (fileName == null) {
            throw StrataException.invalid("A block device must be specified for \"file\"");
        }
        for (String key : opts.keySet()) {
            if (!key.startsWith("file.") && !key.equals("driver") && !IGNORED_FORMAT_KEYS.contains(key)
                    && !key.startsWith("cache.")) {
                String fmt = driver != null ? driver : probedFormat(fileName);
                throw StrataException.invalid("Block format '" + fmt + "' does not support the option '" + key + "'");
            }
        }
        boolean share = isOn(opts.get("force-share"));
        return new Resolved(new ImageSource(NbdStorageResolver.displayName(fileName), driver, argument), share);
    }

    private static String probedFormat(String fileName) {
        try (Storage s = FileStorage.open(fileName, true)) {
            return FormatRegistry.standard().probe(s).name();
        }
    }

    private static boolean isOn(String v) {
        return v != null && (v.equals("on") || v.equals("true") || v.equals("yes"));
    }

    /** QemuOpts parsing: "k=v,k2=v2", ",," for a literal comma, a first bare value is "file". */
    static Map<String, String> parse(String text) {
        return parse(text, "file");
    }

    /** QemuOpts parsing with {@code impliedKey} as the name of a first bare value. */
    static Map<String, String> parse(String text, String impliedKey) {
        Map<String, String> map = new LinkedHashMap<>();
        List<String> parts = split(text);
        for (int i = 0; i < parts.size(); i++) {
            String p = parts.get(i);
            int eq = p.indexOf('=');
            if (eq < 0) {
                if (i == 0) {
                    map.put(impliedKey, p);
                } else if (p.startsWith("no")) {
                    map.put(p.substring(2), "off");
                } else {
                    map.put(p, "on");
                }
            } else {
                map.put(p.substring(0, eq), p.substring(eq + 1));
            }
        }
        return map;
    }

    private static List<String> split(String text) {
        List<String> parts = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == ',') {
                if (i + 1 < text.length() && text.charAt(i + 1) == ',') {
                    cur.append(',');
                    i++;
                } else {
                    parts.add(cur.toString());
                    cur.setLength(0);
                }
            } else {
                cur.append(c);
            }
        }
        parts.add(cur.toString());
        return parts;
    }
}
