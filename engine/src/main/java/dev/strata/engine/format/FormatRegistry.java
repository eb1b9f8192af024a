package dev.strata.engine.format;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;
import dev.strata.engine.format.qcow.QcowFormat;
import dev.strata.engine.format.qcow2.Qcow2Format;
import dev.strata.engine.format.raw.RawFormat;
import dev.strata.engine.storage.Storage;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;

/**
 * The known formats. Probing picks the highest {@link FormatFactory#probe} score, as qemu's
 * {@code bdrv_probe_all} does (qcow2 100 ... raw 1).
 *
 * <p>The standard registry lists the engine's formats by name rather than finding them with
 * {@code ServiceLoader}: a service lookup opens every jar on the class path to look for provider
 * files, which cost every strata-img command about 15 ms of start-up (the classes themselves come
 * from the CDS archive without touching the jars). A new format is added to {@link #BUILT_IN}.
 */
public final class FormatRegistry {
    /** How many leading bytes probes see (qemu's BLOCK_PROBE_BUF_SIZE). */
    public static final int PROBE_BYTES = 2048;

    /** The engine's formats, in priority order for equal probe scores. */
    private static final List<FormatFactory> BUILT_IN = List.of(new Qcow2Format(), new QcowFormat(), new RawFormat());

    private static final FormatRegistry DEFAULT = new FormatRegistry(BUILT_IN);

    private final List<FormatFactory> factories;

    /** A registry over the given factories, in priority order for equal scores. */
    public FormatRegistry(List<FormatFactory> factories) {
        this.factories = List.copyOf(factories);
    }

    /** The registry of every format on the class path. */
    public static FormatRegistry standard() {
        return DEFAULT;
    }

    /** The factory called {@code name}, if known. */
    public Optional<FormatFactory> byName(String name) {
        for (FormatFactory f : factories) {
            if (f.name().equals(name)) {
                return Optional.of(f);
            }
        }
        return Optional.empty();
    }

    /** The names of all formats strata-img can open (recognised-only formats left out). */
    public List<String> names() {
        return factories.stream().filter(FormatFactory::supported).map(FormatFactory::name).toList();
    }

    /**
     * The factory called {@code name}.
     *
     * @throws StrataException EINVAL "Unknown driver 'name'" when there is none
     */
    public FormatFactory require(String name) {
        Optional<FormatFactory> f = byName(name);
        if (f.isEmpty()) {
            throw new StrataException(ErrorKind.EINVAL, "Unknown driver '" + name + "'");
        }
        return f.get();
    }

    /**
     * The best-scoring format for the bytes at the start of {@code file}.
     *
     * @throws StrataException EINVAL when no format claims the file (cannot happen with raw)
     */
    public FormatFactory probe(Storage file) {
        int len = (int) Math.min(PROBE_BYTES, Math.max(0, file.size()));
        ByteBuffer buf = ByteBuffer.allocate(len);
        file.read(buf, 0);
        byte[] header = buf.array();
        FormatFactory best = null;
        int bestScore = 0;
        for (FormatFactory f : factories) {
            int score = f.probe(header, file.name());
            if (score > bestScore) {
                best = f;
                bestScore = score;
            }
        }
        if (best == null) {
            throw new StrataException(ErrorKind.EINVAL,
                    "Could not determine image format for '" + file.name() + "'");
        }
        return best;
    }
}
