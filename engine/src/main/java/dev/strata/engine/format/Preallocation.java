package dev.strata.engine.format;

import dev.strata.engine.StrataException;

/** qemu's preallocation modes ({@code -o preallocation=}, {@code resize --preallocation=}). */
public enum Preallocation {
    /** Nothing is allocated ahead of writes. */
    OFF("off"),
    /** Format metadata (qcow2 L2 tables and cluster mappings) is written; data stays sparse. */
    METADATA("metadata"),
    /** Host space is reserved with fallocate; it reads as zeros. */
    FALLOC("falloc"),
    /** Host space is written with zeros. */
    FULL("full");

    private final String qemuName;

    Preallocation(String qemuName) {
        this.qemuName = qemuName;
    }

    /** The name qemu prints and parses. */
    public String qemuName() {
        return qemuName;
    }

    /**
     * Parses a qemu preallocation name.
     *
     * @throws StrataException EINVAL "Invalid parameter 'NAME'" (qemu's QAPI enum wording)
     */
    public static Preallocation parse(String name) {
        for (Preallocation p : values()) {
            if (p.qemuName.equals(name)) {
                return p;
            }
        }
        throw StrataException.invalid("Invalid parameter '" + name + "'");
    }
}
