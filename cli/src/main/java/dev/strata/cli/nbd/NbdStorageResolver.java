package dev.strata.cli.nbd;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.PathNames;
import dev.strata.engine.storage.FileStorage;
import dev.strata.engine.storage.Storage;
import dev.strata.engine.storage.StorageResolver;

/**
 * strata-img's {@link StorageResolver}: names with qemu's NBD protocol prefixes
 * ({@code nbd://}, {@code nbd+tcp://}, {@code nbd+unix://}) open an {@link NbdStorage};
 * the TLS schemes qemu 7.2 has no driver for are refused in its words; everything else is a
 * host file, as before.
 */
public final class NbdStorageResolver implements StorageResolver {

    @Override
    public Storage open(String name, boolean readOnly) {
        if (NbdUrl.isNbdName(name)) {
            return NbdStorage.open(NbdUrl.parse(name), readOnly);
        }
        String protocol = PathNames.protocolOf(name);
        if ("nbds".equals(protocol) || "nbds+unix".equals(protocol)) {
            throw new StrataException(ErrorKind.EINVAL, "Unknown protocol '" + protocol + "'");
        }
        return FileStorage.open(name, readOnly);
    }

    /**
     * The name qemu prints for {@code name}: the normalised URL for a valid NBD URL, else
     * {@code name} unchanged (an invalid URL is reported when it is opened).
     */
    public static String displayName(String name) {
        if (!NbdUrl.isNbdName(name)) {
            return name;
        }
        try {
            return NbdUrl.parse(name).filename();
        } catch (StrataException e) {
            return name;
        }
    }
}
