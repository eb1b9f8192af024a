package dev.strata.engine.ops.create;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.Preallocation;
import dev.strata.engine.format.qcow2.Qcow2CreateSpec;

/**
 * Turns qcow2 create options into a {@link Qcow2CreateSpec}, checking them in the order qemu 7.2
 * does and with its messages: first the QAPI conversion of {@code qcow2_co_create_opts}
 * (compat 0.10/1.1 to v2/v3, enum values), then {@code qcow2_co_create}'s rules (cluster size,
 * extended L2, backing file vs preallocation, lazy refcounts, refcount width, data file,
 * compression type), the size limit of the L1 table, and last encryption, which strata cannot do.
 *
 * <p>{@code measure} uses the same rules through {@link #spec} (it reads the same options).
 */
public final class Qcow2CreateRequest {
    /** qemu's QCOW_MAX_L1_SIZE in entries (32 MiB of 8-byte entries). */
    private static final long MAX_L1_ENTRIES = (32L << 20) / 8;

    private Qcow2CreateRequest() {
    }

    /**
     * The checks qemu makes before it creates any file: the deprecated {@code encryption} alias
     * cannot be combined with {@code encrypt.format}.
     */
    static void checkBeforeFiles(CreateOptions opts) {
        if (opts.isSet("encryption") && opts.isSet("encrypt.format")) {
            throw StrataException.invalid("'encrypt.format' and its alias 'encryption' can't be used at the same time");
        }
    }

    /**
     * The spec of a qcow2 image of {@code size} bytes (already set in {@code opts}) with the
     * options of {@code opts}.
     *
     * @param requireNoEncryption refuse encryption options (create); measure ignores the key
     * @throws StrataException EINVAL (or EFBIG for sizes the L1 table cannot cover) in qemu's words
     */
    static Qcow2CreateSpec spec(CreateOptions opts, boolean requireNoEncryption) {
        // QAPI conversion of the options, in BlockdevCreateOptionsQcow2 member order.
        String compat = opts.isSet("compat") ? opts.get("compat") : null;
        int version = 3;
        if (compat != null) {
            switch (compat) {
                case "0.10": case "v2":
                    version = 2;
                    break;
                case "1.1": case "v3":
                    version = 3;
                    break;
                default:
                    throw StrataException.invalid("Parameter 'version' does not accept value '" + compat + "'");
            }
        }
        String encryptFormat = encryptFormat(opts);
        Preallocation prealloc = Preallocation.OFF;
        if (opts.isSet("preallocation")) {
            prealloc = enumValue("preallocation", opts.get("preallocation"));
        }
        String compression = opts.isSet("compression_type") ? opts.get("compression_type") : null;
        if (compression != null && !compression.equals("zlib") && !compression.equals("zstd")) {
            throw StrataException.invalid("Parameter 'compression-type' does not accept value '" + compression + "'");
        }
        long size = roundUpToSector(opts.getNumber("size", 0));
        long clusterSize = opts.getNumber("cluster_size", 65536);
        boolean extendedL2 = opts.isSet("extended_l2") && opts.getBool("extended_l2", false);
        String backingFile = opts.isSet("backing_file") ? opts.get("backing_file") : null;
        String backingFormat = opts.isSet("backing_fmt") ? opts.get("backing_fmt") : null;
        String dataFile = opts.isSet("data_file") ? opts.get("data_file") : null;
        boolean dataFileRaw = opts.isSet("data_file_raw") && opts.getBool("data_file_raw", false);
        boolean lazy = opts.isSet("lazy_refcounts") && opts.getBool("lazy_refcounts", false);
        long refcountBits = opts.isSet("refcount_bits") ? opts.getNumber("refcount_bits", 16) : 16;

        // qcow2_co_create's rules.
        if (extendedL2 && version < 3) {
            throw StrataException.invalid("Extended L2 entries are only supported with compatibility level 1.1 "
                    + "and above (use version=v3 or greater)");
        }
        checkClusterSize(clusterSize, extendedL2);
        if (backingFile != null && prealloc != Preallocation.OFF && !extendedL2) {
            throw StrataException.invalid("Backing file and preallocation can only be used at the same time if "
                    + "extended_l2 is on");
        }
        if (backingFormat != null && backingFile == null) {
            throw StrataException.invalid("Backing format cannot be used without backing file");
        }
        if (version < 3 && lazy) {
            throw StrataException.invalid("Lazy refcounts only supported with compatibility level 1.1 and above "
                    + "(use version=v3 or greater)");
        }
        if (refcountBits > 64 || refcountBits <= 0 || Long.bitCount(refcountBits) != 1) {
            throw StrataException.invalid("Refcount width must be a power of two and may not exceed 64 bits");
        }
        if (version < 3 && refcountBits != 16) {
            throw StrataException.invalid("Different refcount widths than 16 bits require compatibility level 1.1 "
                    + "or above (use version=v3 or greater)");
        }
        if (dataFileRaw && dataFile == null) {
            throw StrataException.invalid("data-file-raw requires data-file");
        }
        if (dataFileRaw && backingFile != null) {
            throw StrataException.invalid("Backing file and data-file-raw cannot be used at the same time");
        }
        if (dataFileRaw && prealloc == Preallocation.OFF) {
            // The data file must read as the guest disk: map it 1:1 in the metadata.
            prealloc = Preallocation.METADATA;
        }
        if (dataFile != null && version < 3) {
            throw StrataException.invalid("External data files are only supported with compatibility level 1.1 "
                    + "and above (use version=v3 or greater)");
        }
        if (compression != null && !compression.equals("zlib") && version < 3) {
            throw StrataException.invalid("Non-zlib compression type is only supported with compatibility level "
                    + "1.1 and above (use version=v3 or greater)");
        }
        if (size < 0) {
            throw StrataException.invalid("Could not resize image: Image size cannot be negative");
        }
        long l2Coverage = clusterSize * (clusterSize / (extendedL2 ? 16 : 8));
        if (Long.divideUnsigned(size + l2Coverage - 1, l2Coverage) > MAX_L1_ENTRIES && size > 0) {
            throw new StrataException(ErrorKind.EFBIG, "Could not resize image: File too large");
        }
        if (requireNoEncryption && encryptFormat != null) {
            refuseEncryption(opts);
        }
        return new Qcow2CreateSpec(size, version, (int) clusterSize, extendedL2,
                compression == null ? "zlib" : compression, lazy, (int) refcountBits, prealloc,
                backingFile, backingFormat, dataFile, dataFileRaw);
    }

    /** The encryption format asked for ("qcow" for aes / encryption=on, "luks"), or null. */
    private static String encryptFormat(CreateOptions opts) {
        String format = null;
        if (opts.isSet("encryption") && opts.getBool("encryption", false)) {
            format = "qcow";
        }
        if (opts.isSet("encrypt.format")) {
            String f = opts.get("encrypt.format");
            format = f.equals("aes") ? "qcow" : f;
        }
        if (format != null && !format.equals("qcow") && !format.equals("luks")) {
            throw StrataException.invalid("Parameter 'format' does not accept value '" + format + "'");
        }
        return format;
    }

    /**
     * qemu would now set up encryption. Without a key it fails with its own words; with one
     * strata cannot go on, as it has no encryption.
     */
    private static void refuseEncryption(CreateOptions opts) {
        if (!opts.isSet("encrypt.key-secret")) {
            throw StrataException.invalid("Parameter 'encrypt.key-secret' is required for cipher");
        }
        throw StrataException.unsupported("Creating encrypted images is not supported: encryption is not supported");
    }

    private static Preallocation enumValue(String name, String text) {
        for (Preallocation p : Preallocation.values()) {
            if (p.qemuName().equals(text)) {
                return p;
            }
        }
        throw StrataException.invalid("Parameter '" + name + "' does not accept value '" + text + "'");
    }

    /**
     * qemu's validate_cluster_size.
     *
     * @throws StrataException EINVAL in qemu's words
     */
    public static void checkClusterSize(long clusterSize, boolean extendedL2) {
        int bits = Integer.numberOfTrailingZeros((int) clusterSize);
        if (bits < 9 || bits > 21 || (1L << bits) != clusterSize) {
            throw StrataException.invalid("Cluster size must be a power of two between 512 and 2048k");
        }
        if (extendedL2 && clusterSize < 512 * 32) {
            throw StrataException.invalid("Extended L2 entries are only supported with cluster sizes of at least "
                    + (512 * 32) + " bytes");
        }
    }

    private static long roundUpToSector(long size) {
        if (size < 0) {
            return size;
        }
        long r = (size + 511) & ~511L;
        return r < 0 ? size : r;
    }
}
