package dev.strata.daemon.nbd;

import dev.strata.daemon.export.Export;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static dev.strata.nbd.protocol.NbdConstants.CONTEXT_BASE_ALLOCATION;
import static dev.strata.nbd.protocol.NbdConstants.CONTEXT_QEMU_ALLOCATION_DEPTH;
import static dev.strata.nbd.protocol.NbdConstants.OPT_LIST_META_CONTEXT;

/**
 * The metadata contexts stratad offers, with QEMU's fixed context ids and QEMU's query rules
 * (nbd/server.c, nbd_negotiate_meta_queries):
 * <ul>
 *   <li>{@code base:allocation} (id 0), on every export;</li>
 *   <li>{@code qemu:allocation-depth} (id 1), on exports served with {@code -A}.</li>
 * </ul>
 * A query names one context ({@code base:allocation}) or, for LIST only, a whole namespace
 * ({@code base:}, {@code qemu:}). A LIST without queries lists everything; a SET without queries
 * selects nothing. Queries in other namespaces, or for leaves that do not exist, match nothing.
 * Matches are returned in context order, each once.
 */
public enum MetaContext {
    BASE_ALLOCATION(0, CONTEXT_BASE_ALLOCATION),
    ALLOCATION_DEPTH(1, CONTEXT_QEMU_ALLOCATION_DEPTH);

    private final int id;
    private final String contextName;

    MetaContext(int id, String contextName) {
        this.id = id;
        this.contextName = contextName;
    }

    /** The id sent in NBD_REP_META_CONTEXT for SET and in block status chunks. */
    public int id() {
        return id;
    }

    /** The context's full name, {@code namespace:leaf}. */
    public String contextName() {
        return contextName;
    }

    /** Whether {@code export} offers this context. */
    public boolean offeredBy(Export export) {
        return this == BASE_ALLOCATION || export.allocationDepth();
    }

    /**
     * The contexts of {@code export} that {@code queries} select, in context order.
     *
     * @param option {@code NBD_OPT_LIST_META_CONTEXT} or {@code NBD_OPT_SET_META_CONTEXT}
     */
    public static List<MetaContext> match(Export export, int option, List<String> queries) {
        boolean list = option == OPT_LIST_META_CONTEXT;
        Set<MetaContext> hits = EnumSet.noneOf(MetaContext.class);
        if (queries.isEmpty()) {
            if (list) {
                for (MetaContext c : values()) {
                    if (c.offeredBy(export)) {
                        hits.add(c);
                    }
                }
            }
        } else {
            for (String q : queries) {
                for (MetaContext c : values()) {
                    if (c.offeredBy(export) && c.matches(q, list)) {
                        hits.add(c);
                    }
                }
            }
        }
        return new ArrayList<>(hits);
    }

    private boolean matches(String query, boolean list) {
        if (query.equals(contextName)) {
            return true;
        }
        String namespace = contextName.substring(0, contextName.indexOf(':') + 1);
        return list && query.equals(namespace);
    }
}
