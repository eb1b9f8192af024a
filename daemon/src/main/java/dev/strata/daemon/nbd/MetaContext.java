package dev.strata.daemon.nbd;

import dev.strata.daemon.export.Export;
import dev.strata.daemon.export.ExportedBitmap;
import dev.strata.engine.image.DirtyBitmap;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

import static dev.strata.nbd.protocol.NbdConstants.CONTEXT_BASE_ALLOCATION;
import static dev.strata.nbd.protocol.NbdConstants.CONTEXT_QEMU_ALLOCATION_DEPTH;
import static dev.strata.nbd.protocol.NbdConstants.OPT_LIST_META_CONTEXT;

/**
 * The metadata contexts stratad offers, with QEMU's fixed context ids and QEMU's query rules
 * (nbd/server.c, nbd_negotiate_meta_queries):
 * <ul>
 *   <li>{@code base:allocation} (id 0), on every export;</li>
 *   <li>{@code qemu:allocation-depth} (id 1), on exports served with {@code -A};</li>
 *   <li>{@code qemu:dirty-bitmap:NAME} (id 2 + i), one per bitmap of {@link Export#bitmaps()}
 *       ({@code -B}), i its index there.</li>
 * </ul>
 * A query names one context or, for LIST only, a group: {@code base:}, {@code qemu:} (depth and
 * every bitmap) or {@code qemu:dirty-bitmap:} (every bitmap). A LIST without queries lists
 * everything; a SET without queries selects nothing. A bitmap name exported twice matches its
 * first export only, as in qemu. Queries in other namespaces, or for leaves that do not exist,
 * match nothing. Matches are returned in id order, each once.
 *
 * <p>Equality is by id and name: two contexts of one export with the same id are the same.
 */
public final class MetaContext {
    /** {@code base:allocation}. */
    public static final MetaContext BASE_ALLOCATION = new MetaContext(0, CONTEXT_BASE_ALLOCATION, null);
    /** {@code qemu:allocation-depth}. */
    public static final MetaContext ALLOCATION_DEPTH = new MetaContext(1, CONTEXT_QEMU_ALLOCATION_DEPTH, null);

    /** The prefix of the bitmap contexts' names. */
    static final String DIRTY_BITMAP_PREFIX = "qemu:dirty-bitmap:";
    /** Id of the first bitmap context (QEMU's NBD_META_ID_DIRTY_BITMAP). */
    static final int FIRST_BITMAP_ID = 2;

    private final int id;
    private final String contextName;
    private final DirtyBitmap bitmap;

    private MetaContext(int id, String contextName, DirtyBitmap bitmap) {
        this.id = id;
        this.contextName = contextName;
        this.bitmap = bitmap;
    }

    /** The context of the {@code index}-th exported bitmap. */
    static MetaContext dirtyBitmap(int index, ExportedBitmap b) {
        return new MetaContext(FIRST_BITMAP_ID + index, DIRTY_BITMAP_PREFIX + b.name(), b.bits());
    }

    /** The id sent in NBD_REP_META_CONTEXT for SET and in block status chunks. */
    public int id() {
        return id;
    }

    /** The context's full name, {@code namespace:leaf}. */
    public String contextName() {
        return contextName;
    }

    /** The live bits of a {@code qemu:dirty-bitmap:} context; null for the others. */
    public DirtyBitmap bitmap() {
        return bitmap;
    }

    /**
     * The contexts of {@code export} that {@code queries} select, in id order.
     *
     * @param option {@code NBD_OPT_LIST_META_CONTEXT} or {@code NBD_OPT_SET_META_CONTEXT}
     */
    public static List<MetaContext> match(Export export, int option, List<String> queries) {
        boolean list = option == OPT_LIST_META_CONTEXT;
        int nBitmaps = export.bitmaps().size();
        boolean base = false;
        boolean depth = false;
        boolean[] bitmaps = new boolean[nBitmaps];
        if (list && queries.isEmpty()) {
            base = true;
            depth = export.allocationDepth();
            Arrays.fill(bitmaps, true);
        }
        for (String q : queries) {
            if (q.startsWith("base:")) {
                String leaf = q.substring("base:".length());
                base |= leaf.isEmpty() ? list : leaf.equals("allocation");
            } else if (q.equals("qemu:")) {
                if (list) {
                    depth |= export.allocationDepth();
                    Arrays.fill(bitmaps, true);
                }
            } else if (q.equals(CONTEXT_QEMU_ALLOCATION_DEPTH)) {
                depth |= export.allocationDepth();
            } else if (q.startsWith(DIRTY_BITMAP_PREFIX)) {
                String name = q.substring(DIRTY_BITMAP_PREFIX.length());
                if (name.isEmpty()) {
                    if (list) {
                        Arrays.fill(bitmaps, true);
                    }
                } else {
                    for (int i = 0; i < nBitmaps; i++) {
                        if (export.bitmaps().get(i).name().equals(name)) {
                            bitmaps[i] = true;
                            break;
                        }
                    }
                }
            }
        }
        List<MetaContext> hits = new ArrayList<>();
        if (base) {
            hits.add(BASE_ALLOCATION);
        }
        if (depth) {
            hits.add(ALLOCATION_DEPTH);
        }
        for (int i = 0; i < nBitmaps; i++) {
            if (bitmaps[i]) {
                hits.add(dirtyBitmap(i, export.bitmaps().get(i)));
            }
        }
        return hits;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MetaContext m && m.id == id && m.contextName.equals(contextName);
    }

    @Override
    public int hashCode() {
        return Objects.hash(id, contextName);
    }

    @Override
    public String toString() {
        return contextName + "#" + id;
    }
}
