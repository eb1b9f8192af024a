package dev.strata.daemon.nbd;

import dev.strata.daemon.export.Export;
import dev.strata.daemon.export.ExportRegistry;

import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * What one connection has negotiated so far. Created when the client connects, filled in by the
 * option handlers, then read by the transmission handler. Touched only from the channel's event
 * loop (the worker threads get copies of what they need), so it needs no locking.
 */
public final class NbdSession {
    private final ExportRegistry registry;
    private final String peer;
    private boolean noZeroes;
    private boolean structuredReplies;
    private String metaExportName;
    private List<MetaContext> metaContexts = List.of();
    private Export export;

    NbdSession(ExportRegistry registry, String peer) {
        this.registry = registry;
        this.peer = peer;
    }

    public ExportRegistry registry() {
        return registry;
    }

    /** The client's address, for logs. */
    public String peer() {
        return peer;
    }

    public boolean noZeroes() {
        return noZeroes;
    }

    public void noZeroes(boolean value) {
        noZeroes = value;
    }

    public boolean structuredReplies() {
        return structuredReplies;
    }

    public void structuredReplies(boolean value) {
        structuredReplies = value;
    }

    /** Records the contexts of the last NBD_OPT_SET_META_CONTEXT, which named {@code exportName}. */
    public void metaContexts(String exportName, List<MetaContext> contexts) {
        metaExportName = exportName;
        metaContexts = List.copyOf(contexts);
    }

    /** The selected contexts; empty unless they were set for the export finally chosen. */
    public List<MetaContext> metaContexts() {
        return metaContexts;
    }

    /** The export chosen by GO or EXPORT_NAME; null during negotiation. */
    public Export export() {
        return export;
    }

    /**
     * Enters transmission with {@code chosen}. Contexts set for another export are dropped, as
     * QEMU does: they were negotiated for a different image.
     */
    public void choose(Export chosen) {
        export = chosen;
        if (metaExportName == null || !metaExportName.equals(chosen.name())) {
            metaContexts = List.of();
        }
    }

    /** The transmission flags of {@code e} for this session (SEND_DF only with structured replies). */
    public int transmissionFlags(Export e) {
        int flags = FLAG_HAS_FLAGS | FLAG_SEND_FLUSH | FLAG_SEND_CACHE;
        var caps = e.capabilities();
        if (!caps.canWrite()) {
            flags |= FLAG_READ_ONLY;
        }
        if (caps.canTrim()) {
            flags |= FLAG_SEND_TRIM;
        }
        if (caps.canZero()) {
            flags |= FLAG_SEND_WRITE_ZEROES;
        }
        if (caps.canFua()) {
            flags |= FLAG_SEND_FUA;
        }
        if (caps.canMultiConn()) {
            flags |= FLAG_CAN_MULTI_CONN;
        }
        if (structuredReplies) {
            flags |= FLAG_SEND_DF;
        }
        return flags;
    }
}
