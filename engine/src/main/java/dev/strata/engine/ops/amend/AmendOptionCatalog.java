package dev.strata.engine.ops.amend;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.QemuDrivers;
import dev.strata.engine.ops.create.CreateOptionCatalog;
import dev.strata.engine.ops.create.CreateOptionDesc;
import dev.strata.engine.ops.create.CreateOptionDesc.Type;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The amend options of qemu 7.2's formats ({@code qcow2_amend_opts}, the LUKS driver's amend
 * list), in declaration order, and {@code print_amend_option_help}. qcow2's list is its LUKS
 * keyslot options under the "encrypt." prefix followed by the options qcow2 shares with create.
 */
public final class AmendOptionCatalog {

    private static final List<CreateOptionDesc> LUKS = luks("");

    private static final List<CreateOptionDesc> QCOW2 = qcow2();

    private AmendOptionCatalog() {
    }

    private static List<CreateOptionDesc> luks(String prefix) {
        return List.of(
                new CreateOptionDesc(prefix + "state", Type.STRING,
                        "Select new state of affected keyslots (active/inactive)", null),
                new CreateOptionDesc(prefix + "keyslot", Type.NUMBER,
                        "Select a single keyslot to modify explicitly", null),
                new CreateOptionDesc(prefix + "old-secret", Type.STRING,
                        "Select all keyslots that match this password", null),
                new CreateOptionDesc(prefix + "new-secret", Type.STRING,
                        "New secret to set in the matching keyslots. Empty string to erase", null),
                new CreateOptionDesc(prefix + "iter-time", Type.NUMBER,
                        "Time to spend in PBKDF in milliseconds", null));
    }

    /** qcow2's amend list: "encrypt."-prefixed LUKS options, then QCOW_COMMON_OPTIONS. */
    private static List<CreateOptionDesc> qcow2() {
        List<CreateOptionDesc> list = new ArrayList<>(luks("encrypt."));
        List<String> common = List.of("size", "compat", "backing_file", "backing_fmt", "data_file", "data_file_raw",
                "lazy_refcounts", "refcount_bits");
        Map<String, CreateOptionDesc> create = new LinkedHashMap<>();
        for (CreateOptionDesc d : CreateOptionCatalog.formatOnly("qcow2")) {
            create.put(d.name(), d);
        }
        for (String name : common) {
            list.add(create.get(name));
        }
        return List.copyOf(list);
    }

    /** qcow2's amend options in declaration order. */
    public static List<CreateOptionDesc> qcow2Options() {
        return QCOW2;
    }

    /**
     * qcow2's amend options followed by the create options they lack ({@code qemu_opts_append}),
     * the list qemu-img tries when the amend list refuses an option.
     */
    public static List<CreateOptionDesc> qcow2WithCreateOptions() {
        Map<String, CreateOptionDesc> merged = new LinkedHashMap<>();
        for (CreateOptionDesc d : QCOW2) {
            merged.put(d.name(), d);
        }
        for (CreateOptionDesc d : CreateOptionCatalog.formatOnly("qcow2")) {
            merged.putIfAbsent(d.name(), d);
        }
        return List.copyOf(merged.values());
    }

    /**
     * qemu-img's {@code print_amend_option_help}: "Amend options for 'FMT':" and the sorted
     * option lines.
     *
     * @throws StrataException "Unknown file format 'X'" or "Format driver 'X' does not support
     *                         option amendment"
     */
    public static String help(String format) {
        List<CreateOptionDesc> descs;
        if ("qcow2".equals(format)) {
            descs = QCOW2;
        } else if ("luks".equals(format)) {
            descs = LUKS;
        } else {
            throw notAmendable(format);
        }
        return "Amend options for '" + format + "':\n" + CreateOptionCatalog.helpLines(descs);
    }

    /** "Format driver 'X' does not support option amendment", or "Unknown file format 'X'". */
    static StrataException notAmendable(String format) {
        if (!QemuDrivers.known(format)) {
            return StrataException.invalid("Unknown file format '" + format + "'");
        }
        return StrataException.unsupported("Format driver '" + format + "' does not support option amendment");
    }
}
