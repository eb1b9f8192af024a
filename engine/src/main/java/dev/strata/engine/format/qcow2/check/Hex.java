package dev.strata.engine.format.qcow2.check;

/** printf-style hexadecimal as qemu's messages use it. */
final class Hex {
    private Hex() {
    }

    /** C's {@code %#lx}: "0x" and lower-case digits, but a bare "0" for zero. */
    static String alt(long value) {
        return value == 0 ? "0" : "0x" + Long.toHexString(value);
    }
}
