package dev.strata.engine.ops.create;

import dev.strata.engine.StrataException;
import dev.strata.engine.ops.create.CreateOptionDesc.Type;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The create options of the formats strata can create (qcow2 and raw) and of the host-file
 * protocol under them, as qemu 7.2 declares them ({@code qcow2_create_opts},
 * {@code raw_create_opts}, file-posix's {@code raw_create_opts}): names, types, help strings and
 * defaults, in declaration order.
 *
 * <p>Like qemu's {@code qemu_opts_append}, {@link #forCreate} puts the format's list first and
 * adds the protocol's options whose names the format does not already declare.
 */
public final class CreateOptionCatalog {
    /** Formats strata-img can create. */
    public static final List<String> CREATABLE = List.of("qcow2", "raw");

    private static final String SIZE_HELP = "Virtual disk size";

    private static final List<CreateOptionDesc> QCOW2 = List.of(
            CreateOptionDesc.of("encryption", Type.BOOL,
                    "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)"),
            CreateOptionDesc.of("encrypt.format", Type.STRING,
                    "Encrypt the image, format choices: 'aes', 'luks'"),
            CreateOptionDesc.of("encrypt.key-secret", Type.STRING,
                    "ID of secret providing qcow AES key or LUKS passphrase"),
            CreateOptionDesc.of("encrypt.cipher-alg", Type.STRING, "Name of encryption cipher algorithm"),
            CreateOptionDesc.of("encrypt.cipher-mode", Type.STRING, "Name of encryption cipher mode"),
            CreateOptionDesc.of("encrypt.ivgen-alg", Type.STRING, "Name of IV generator algorithm"),
            CreateOptionDesc.of("encrypt.ivgen-hash-alg", Type.STRING, "Name of IV generator hash algorithm"),
            CreateOptionDesc.of("encrypt.hash-alg", Type.STRING, "Name of encryption hash algorithm"),
            CreateOptionDesc.of("encrypt.iter-time", Type.NUMBER, "Time to spend in PBKDF in milliseconds"),
            new CreateOptionDesc("cluster_size", Type.SIZE, "qcow2 cluster size", "65536"),
            new CreateOptionDesc("extended_l2", Type.BOOL, "Extended L2 tables", "off"),
            CreateOptionDesc.of("preallocation", Type.STRING,
                    "Preallocation mode (allowed values: off, metadata, falloc, full)"),
            new CreateOptionDesc("compression_type", Type.STRING,
                    "Compression method used for image cluster compression", "zlib"),
            CreateOptionDesc.of("size", Type.SIZE, SIZE_HELP),
            CreateOptionDesc.of("compat", Type.STRING, "Compatibility level (v2 [0.10] or v3 [1.1])"),
            CreateOptionDesc.of("backing_file", Type.STRING, "File name of a base image"),
            CreateOptionDesc.of("backing_fmt", Type.STRING, "Image format of the base image"),
            CreateOptionDesc.of("data_file", Type.STRING, "File name of an external data file"),
            CreateOptionDesc.of("data_file_raw", Type.BOOL,
                    "The external data file must stay valid as a raw image"),
            new CreateOptionDesc("lazy_refcounts", Type.BOOL, "Postpone refcount updates", "off"),
            new CreateOptionDesc("refcount_bits", Type.NUMBER, "Width of a reference count entry in bits", "16"));

    private static final List<CreateOptionDesc> RAW = List.of(
            CreateOptionDesc.of("size", Type.SIZE, SIZE_HELP));

    /** file-posix, the protocol of every host file. */
    private static final List<CreateOptionDesc> FILE = List.of(
            CreateOptionDesc.of("size", Type.SIZE, SIZE_HELP),
            CreateOptionDesc.of("nocow", Type.BOOL, "Turn off copy-on-write (valid only on btrfs)"),
            CreateOptionDesc.of("preallocation", Type.STRING,
                    "Preallocation mode (allowed values: off, falloc, full)"),
            CreateOptionDesc.of("extent_size_hint", Type.SIZE,
                    "Extent size hint for the image file, 0 to disable"));

    private CreateOptionCatalog() {
    }

    /** Whether strata can create images of {@code format}. */
    public static boolean canCreate(String format) {
        return CREATABLE.contains(format);
    }

    /**
     * The format's own options, without the protocol's ({@code qemu-img create -o help} without a
     * file name lists these).
     *
     * @throws StrataException ENOTSUP when strata cannot create {@code format}
     */
    public static List<CreateOptionDesc> formatOnly(String format) {
        switch (format) {
            case "qcow2":
                return QCOW2;
            case "raw":
                return RAW;
            default:
                throw StrataException.unsupported("Format driver '" + format + "' does not support image creation");
        }
    }

    /** The options of {@code format} followed by the host-file protocol's options it lacks. */
    public static List<CreateOptionDesc> forCreate(String format) {
        Map<String, CreateOptionDesc> merged = new LinkedHashMap<>();
        for (CreateOptionDesc d : formatOnly(format)) {
            merged.put(d.name(), d);
        }
        for (CreateOptionDesc d : FILE) {
            merged.putIfAbsent(d.name(), d);
        }
        return List.copyOf(merged.values());
    }

    /**
     * qemu's {@code qemu_opts_print_help} without caption: one line per option,
     * {@code "  name=<type>"} padded to 24 columns, {@code " - help"}, lines sorted bytewise.
     */
    public static String helpLines(List<CreateOptionDesc> descs) {
        List<String> lines = new ArrayList<>();
        for (CreateOptionDesc d : descs) {
            StringBuilder s = new StringBuilder("  ").append(d.name()).append("=<").append(d.type().helpName())
                    .append('>');
            if (d.help() != null) {
                while (s.length() < 24) {
                    s.append(' ');
                }
                s.append(" - ").append(d.help());
            }
            lines.add(s.toString());
        }
        lines.sort(null);
        StringBuilder out = new StringBuilder();
        for (String l : lines) {
            out.append(l).append('\n');
        }
        return out.toString();
    }
}
