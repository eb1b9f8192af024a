package dev.strata.engine.format.qcow2;

/*
 * Design note: the LUKS1 partition header that a LUKS-encrypted qcow2 image stores at the
 * offset named by its full disk encryption header extension. We never decrypt; we parse only
 * what qemu-img info reports without a secret (cipher, modes, hash, payload offset, iterations,
 * uuid, key slots), translated to qemu's QAPI enum names. The header is 592 bytes at a
 * validated offset, so nothing here is sized by untrusted fields.
 */

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A LUKS1 header as qemu's crypto layer reports it.
 *
 * @param cipherAlg       QAPI cipher algorithm name ("aes-256", ...)
 * @param cipherMode      QAPI cipher mode ("xts", "cbc", ...)
 * @param ivgenAlg        QAPI IV generator ("plain64", "essiv", ...)
 * @param ivgenHashAlg    QAPI hash of the ESSIV generator, or null
 * @param hashAlg         QAPI hash algorithm of the key derivation
 * @param payloadOffset   payload offset in bytes
 * @param masterKeyIters  PBKDF2 iterations of the master key digest
 * @param uuid            volume UUID
 * @param slots           the eight key slots
 */
public record Qcow2LuksHeader(String cipherAlg, String cipherMode, String ivgenAlg, String ivgenHashAlg,
                              String hashAlg, long payloadOffset, long masterKeyIters, String uuid,
                              List<KeySlot> slots) {
    /** Size of the LUKS1 header with its eight key slots. */
    public static final int SIZE = 592;
    private static final int SECTOR = 512;
    private static final int SLOT_ACTIVE = 0x00AC71F3;
    private static final byte[] MAGIC = {'L', 'U', 'K', 'S', (byte) 0xba, (byte) 0xbe};

    /**
     * One key slot.
     *
     * @param active    whether the slot holds a key
     * @param iters     PBKDF2 iterations (meaningful when active)
     * @param stripes   anti-forensic stripes (meaningful when active)
     * @param keyOffset offset of the key material in bytes, relative to the LUKS header
     */
    public record KeySlot(boolean active, long iters, long stripes, long keyOffset) {
    }

    /**
     * Reads the LUKS header at {@code offset} (the crypto header extension says it is
     * {@code length} bytes long).
     *
     * @throws StrataException EINVAL with qemu's wording when it is not a supported LUKS header
     */
    public static Qcow2LuksHeader parse(Storage file, long offset, long length) {
        if (Long.compareUnsigned(length, SIZE) < 0) {
            throw StrataException.invalid("Request for data outside of extension header");
        }
        ByteBuffer b;
        try {
            b = HostReads.read(file, offset, SIZE);
        } catch (HostReads.Refused e) {
            throw new StrataException(ErrorKind.EIO, "Could not read encryption header: " + HostReads.EIO_TEXT, e);
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (b.get(i) != MAGIC[i]) {
                throw StrataException.invalid("Volume is not in LUKS format");
            }
        }
        int version = HostReads.u16(b, 6);
        if (version != 1) {
            throw StrataException.invalid("LUKS version " + version + " is not supported");
        }
        byte[] raw = b.array();
        String cipherName = HostReads.cString(raw, 8, 32);
        String modeSpec = HostReads.cString(raw, 40, 32);
        String hashSpec = HostReads.cString(raw, 72, 32);
        long payloadSector = HostReads.u32(b, 104);
        long keyBytes = HostReads.u32(b, 108);
        long mkIters = HostReads.u32(b, 164);
        String uuid = HostReads.cString(raw, 168, 40);

        int dash = modeSpec.indexOf('-');
        if (dash < 0) {
            throw StrataException.invalid("Unexpected cipher mode string format " + modeSpec);
        }
        String mode = modeSpec.substring(0, dash);
        String ivgen = modeSpec.substring(dash + 1);
        String ivHash = null;
        int colon = ivgen.indexOf(':');
        if (colon >= 0) {
            ivHash = ivgen.substring(colon + 1);
            ivgen = ivgen.substring(0, colon);
        }
        if (!List.of("ecb", "cbc", "xts", "ctr").contains(mode)) {
            throw StrataException.invalid("Cipher mode '" + mode + "' is not supported");
        }
        long cipherKeyBytes = mode.equals("xts") ? keyBytes / 2 : keyBytes;
        String cipherAlg = cipherAlgorithm(cipherName, cipherKeyBytes);
        if (!List.of("plain", "plain64", "essiv").contains(ivgen)) {
            throw StrataException.invalid("IV generator '" + ivgen + "' is not supported");
        }
        checkHash(hashSpec);
        if (ivHash != null) {
            checkHash(ivHash);
        }
        List<KeySlot> slots = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int base = 208 + i * 48;
            boolean active = b.getInt(base) == SLOT_ACTIVE;
            slots.add(new KeySlot(active, HostReads.u32(b, base + 4), HostReads.u32(b, base + 44),
                    HostReads.u32(b, base + 40) * SECTOR));
        }
        return new Qcow2LuksHeader(cipherAlg, mode, ivgen, ivgen.equals("essiv") ? ivHash : null, hashSpec,
                payloadSector * SECTOR, mkIters, uuid, slots);
    }

    private static String cipherAlgorithm(String name, long keyBytes) {
        String alg = null;
        switch (name) {
            case "aes":
            case "serpent":
            case "twofish":
                if (keyBytes == 16 || keyBytes == 24 || keyBytes == 32) {
                    alg = name + "-" + keyBytes * 8;
                }
                break;
            case "cast5":
                if (keyBytes == 16) {
                    alg = "cast5-128";
                }
                break;
            default:
                break;
        }
        if (alg == null) {
            throw StrataException.invalid("Algorithm '" + name + "' with key size " + keyBytes
                    + " bytes not supported");
        }
        return alg;
    }

    private static void checkHash(String hash) {
        if (!List.of("md5", "sha1", "sha224", "sha256", "sha384", "sha512", "ripemd160").contains(hash)) {
            throw StrataException.invalid("Hash algorithm '" + hash + "' is not supported");
        }
    }

    /**
     * The members qemu-img info shows under "encrypt" for a LUKS image, in QAPI order
     * (QCryptoBlockInfoLUKS after the "format" discriminator, which the caller adds).
     */
    public Map<String, Object> infoMembers() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cipher-alg", cipherAlg);
        m.put("cipher-mode", cipherMode);
        m.put("ivgen-alg", ivgenAlg);
        if (ivgenHashAlg != null) {
            m.put("ivgen-hash-alg", ivgenHashAlg);
        }
        m.put("hash-alg", hashAlg);
        m.put("payload-offset", payloadOffset);
        m.put("master-key-iters", masterKeyIters);
        m.put("uuid", uuid);
        List<Object> list = new ArrayList<>();
        for (KeySlot s : slots) {
            Map<String, Object> sm = new LinkedHashMap<>();
            sm.put("active", s.active());
            if (s.active()) {
                sm.put("iters", s.iters());
                sm.put("stripes", s.stripes());
            }
            sm.put("key-offset", s.keyOffset());
            list.add(sm);
        }
        m.put("slots", list);
        return m;
    }
}
