package dev.strata.nbd.protocol;

import java.util.Objects;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * The payload of one {@code NBD_REP_INFO} reply (16-bit info type, then type-specific data).
 */
public sealed interface NbdInfo {

    /** The {@code NBD_INFO_*} type. */
    int type();

    /** {@code NBD_INFO_EXPORT}: mandatory before a successful ACK to INFO/GO. */
    record Export(long size, int transmissionFlags) implements NbdInfo {
        public Export {
            NbdWire.checkU16(transmissionFlags, "transmission flags");
        }

        @Override
        public int type() {
            return INFO_EXPORT;
        }
    }

    /** {@code NBD_INFO_NAME}: the server's canonical name for the export. */
    record Name(String name) implements NbdInfo {
        public Name {
            Objects.requireNonNull(name, "name");
        }

        @Override
        public int type() {
            return INFO_NAME;
        }
    }

    /** {@code NBD_INFO_DESCRIPTION}: human-readable text. */
    record Description(String description) implements NbdInfo {
        public Description {
            Objects.requireNonNull(description, "description");
        }

        @Override
        public int type() {
            return INFO_DESCRIPTION;
        }
    }

    /**
     * {@code NBD_INFO_BLOCK_SIZE}: size constraints (each an unsigned 32-bit value).
     *
     * @param minimum        smallest length/alignment (power of 2, at most 64 KiB)
     * @param preferred      efficient I/O size (power of 2, at least max(minimum, 512))
     * @param maximumPayload largest READ/WRITE payload; {@code 0xffffffff} means no fixed limit
     */
    record BlockSize(long minimum, long preferred, long maximumPayload) implements NbdInfo {
        public BlockSize {
            NbdWire.checkU32(minimum, "minimum block size");
            NbdWire.checkU32(preferred, "preferred block size");
            NbdWire.checkU32(maximumPayload, "maximum payload");
        }

        @Override
        public int type() {
            return INFO_BLOCK_SIZE;
        }
    }

    /** An info type this code does not know; clients must ignore it. */
    record Unknown(int type, byte[] data) implements NbdInfo {
        public Unknown {
            data = data.clone();
        }

        @Override
        public byte[] data() {
            return data.clone();
        }
    }
}
