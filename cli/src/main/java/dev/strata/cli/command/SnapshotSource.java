package dev.strata.cli.command;

import dev.strata.cli.CliContext;
import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.FormatDriver;
import dev.strata.engine.format.qcow2.Qcow2Driver;
import dev.strata.engine.image.Image;

import java.util.List;

/**
 * {@code convert -l}: reading an internal snapshot as the source, as qemu-img 7.2's img_convert.
 * An argument starting with "snapshot." is parsed while the options are (qemu_opts_parse_noisily
 * over the keys snapshot.id and snapshot.name: short-form booleans warn, other keys fail with
 * "Failed in parsing snapshot param"), and then loads the snapshot with that id and/or name into
 * the first source (bdrv_snapshot_load_tmp). Any other argument is an id or name: looked up by id,
 * then by name, and refused with more than one source. The source keeps its virtual size; its
 * mapping goes through the snapshot's L1 table (Qcow2Driver.loadSnapshot).
 */
final class SnapshotSource {
    private static final String OPT_BASE = "snapshot.";

    private final String id;
    private final String name;
    private final String idOrName;

    private SnapshotSource(String id, String name, String idOrName) {
        this.id = id;
        this.name = name;
        this.idOrName = idOrName;
    }

    /**
     * Parses the {@code -l} argument as getopt meets it.
     *
     * @return the snapshot to load, or null after reporting qemu's parse errors (exit 1)
     */
    static SnapshotSource parse(CliContext ctx, String param) {
        if (!param.startsWith(OPT_BASE)) {
            return new SnapshotSource(null, null, param);
        }
        String id = null;
        String name = null;
        int p = 0;
        int n = param.length();
        while (p < n) {
            int end = p;
            while (end < n && param.charAt(end) != '=' && param.charAt(end) != ',') {
                end++;
            }
            String key = param.substring(p, end);
            String value;
            if (end < n && param.charAt(end) == '=') {
                StringBuilder v = new StringBuilder();
                p = end + 1;
                while (p < n) {
                    if (param.charAt(p) == ',') {
                        if (p + 1 < n && param.charAt(p + 1) == ',') {
                            v.append(',');
                            p += 2;
                            continue;
                        }
                        break;
                    }
                    v.append(param.charAt(p++));
                }
                value = v.toString();
            } else {
                p = end;
                value = "on";
                if (key.startsWith("no")) {
                    key = key.substring(2);
                    value = "off";
                }
                ctx.error("warning: short-form boolean option '" + key + "' deprecated");
                ctx.err().println("Please use " + key + "=" + value + " instead");
            }
            if (p < n) {
                p++;
            }
            switch (key) {
                case "id" -> { }
                case "snapshot.id" -> id = value;
                case "snapshot.name" -> name = value;
                default -> {
                    ctx.error("Invalid parameter '" + key + "'");
                    ctx.error("Failed in parsing snapshot param '" + param + "'");
                    return null;
                }
            }
        }
        return new SnapshotSource(id, name, null);
    }

    /**
     * Loads the snapshot into the first of {@code sources} (opened read-only).
     *
     * @return null on success, else the one-line error qemu-img prints
     */
    String load(List<Image> sources) {
        if (idOrName != null && sources.size() > 1) {
            return "No support for concatenating multiple snapshot";
        }
        FormatDriver driver = sources.get(0).layers().get(0).driver();
        try {
            if (!(driver instanceof Qcow2Driver qcow2)) {
                throw new StrataException(ErrorKind.ENOTSUP, "Block format '" + driver.formatName()
                        + "' used by device '' does not support temporarily loading internal snapshots");
            }
            if (idOrName == null) {
                qcow2.loadSnapshot(id, name);
            } else {
                try {
                    qcow2.loadSnapshot(idOrName, null);
                } catch (StrataException e) {
                    if (e.kind() != ErrorKind.ENOENT && e.kind() != ErrorKind.EINVAL) {
                        throw e;
                    }
                    qcow2.loadSnapshot(null, idOrName);
                }
            }
            return null;
        } catch (StrataException e) {
            return "Failed to load snapshot: " + e.getMessage();
        }
    }
}
