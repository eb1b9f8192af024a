package dev.strata.engine.storage;

import java.util.Objects;

/**
 * Opens the {@link Storage} behind an image name, as QEMU picks a protocol driver for a
 * filename: a {@code protocol:} prefix selects the protocol, anything else is a host file.
 * The engine itself knows only host files ({@link #FILES}); a face that knows more protocols
 * (strata-img reads {@code nbd://} URLs) {@link #install installs} a resolver that handles its
 * names and falls back to files.
 *
 * <p>Design note: the installed resolver is process-wide, like QEMU's table of block drivers,
 * because image names arrive from many places (the command line, backing-file references,
 * check's own re-opens) and all of them must resolve alike.
 */
@FunctionalInterface
public interface StorageResolver {

    /** Host files only (a class rather than a method reference: see StartupLambdaTest). */
    StorageResolver FILES = new StorageResolver() {
        @Override
        public Storage open(String name, boolean readOnly) {
            return FileStorage.open(name, readOnly);
        }
    };

    /**
     * Opens {@code name}.
     *
     * @param readOnly open without write access
     * @throws dev.strata.engine.StrataException with qemu's message for the failure, without
     *         the "Could not open 'NAME': " prefix
     */
    Storage open(String name, boolean readOnly);

    /** Makes {@code resolver} the one {@link #installed()} returns. */
    static void install(StorageResolver resolver) {
        Installed.current = Objects.requireNonNull(resolver, "resolver");
    }

    /** The resolver last {@link #install installed}, {@link #FILES} until then. */
    static StorageResolver installed() {
        return Installed.current;
    }

    /** Holder of the process-wide resolver. */
    final class Installed {
        private static volatile StorageResolver current = FILES;

        private Installed() {
        }
    }
}
