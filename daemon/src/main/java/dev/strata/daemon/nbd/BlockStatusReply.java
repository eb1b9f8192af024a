package dev.strata.daemon.nbd;

import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;
import dev.strata.nbd.protocol.NbdExtent;
import dev.strata.nbd.protocol.NbdReplyChunk;

import java.util.ArrayList;
import java.util.List;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * Builds the reply to one {@code NBD_CMD_BLOCK_STATUS}: one {@code NBD_REPLY_TYPE_BLOCK_STATUS}
 * chunk per selected context, in id order (as QEMU sends them). {@code base:allocation} and
 * {@code qemu:allocation-depth} come from one walk of {@link Image#blockStatusAt} (the code behind
 * {@code strata-img map}); each {@code qemu:dirty-bitmap:} context from its bitmap
 * ({@link BitmapExtents}), over the whole request on its own.
 *
 * <p>Mapping, as QEMU's nbd/server.c does it:
 * <ul>
 *   <li>{@code base:allocation}: {@code NBD_STATE_HOLE} when the range is not DATA,
 *       {@code NBD_STATE_ZERO} when it reads as zeros (blockstatus_to_extents);</li>
 *   <li>{@code qemu:allocation-depth}: 0 when no layer of the chain allocates the range, else
 *       the depth of the layer that does, counting the top layer as 1 (blockalloc_to_extents,
 *       bdrv_is_allocated_above).</li>
 * </ul>
 * Adjacent extents with equal flags are merged. Extents never run past the requested range;
 * with {@code REQ_ONE} only the first is sent; at most {@value #MAX_EXTENTS} are sent per
 * context (QEMU's limit), and the client asks again for the rest.
 */
final class BlockStatusReply {
    /** QEMU's NBD_MAX_BLOCK_STATUS_EXTENTS: 1 MiB of descriptors. */
    static final int MAX_EXTENTS = 1024 * 1024 / 8;

    private BlockStatusReply() {
    }

    static List<Object> build(Image image, List<MetaContext> contexts, long cookie, long offset, long length,
                              boolean reqOne) {
        List<MetaContext> imageContexts = new ArrayList<>();
        for (MetaContext c : contexts) {
            if (c.bitmap() == null) {
                imageContexts.add(c);
            }
        }
        List<List<NbdExtent>> fromImage = imageExtents(image, imageContexts, offset, length, reqOne);
        List<Object> out = new ArrayList<>();
        int next = 0;
        for (int i = 0; i < contexts.size(); i++) {
            MetaContext c = contexts.get(i);
            List<NbdExtent> list = c.bitmap() == null ? fromImage.get(next++)
                    : BitmapExtents.of(c.bitmap(), offset, length, reqOne ? 1 : MAX_EXTENTS);
            int flags = i == contexts.size() - 1 ? REPLY_FLAG_DONE : 0;
            out.add(new NbdReplyChunk.BlockStatus(cookie, flags, c.id(), list));
        }
        return out;
    }

    /** The extents of the contexts answered from the image's block status, from one walk. */
    private static List<List<NbdExtent>> imageExtents(Image image, List<MetaContext> contexts, long offset,
                                                      long length, boolean reqOne) {
        long end = offset + length;
        List<List<NbdExtent>> perContext = new ArrayList<>();
        int[] last = new int[contexts.size()];
        for (int i = 0; i < contexts.size(); i++) {
            perContext.add(new ArrayList<>());
            last[i] = -1;
        }
        int keep = reqOne ? 1 : MAX_EXTENTS;
        // Each context stops on its own once it has more than it may send, as QEMU computes each
        // one over the whole request; the walk ends when every context has stopped.
        boolean[] done = new boolean[contexts.size()];
        int running = contexts.size();
        long pos = offset;
        while (running > 0 && pos < end) {
            Extent e = image.blockStatusAt(pos, end - pos);
            long n = Math.min(e.end(), end) - pos;
            if (n <= 0) {
                break;
            }
            for (int i = 0; i < contexts.size(); i++) {
                if (done[i]) {
                    continue;
                }
                int flags = flagsOf(contexts.get(i), e);
                List<NbdExtent> list = perContext.get(i);
                if (!list.isEmpty() && last[i] == flags) {
                    NbdExtent prev = list.get(list.size() - 1);
                    list.set(list.size() - 1, new NbdExtent(prev.length() + n, flags));
                } else {
                    list.add(new NbdExtent(n, flags));
                    last[i] = flags;
                }
                if (list.size() > keep) {
                    done[i] = true;
                    running--;
                }
            }
            pos += n;
        }
        for (int i = 0; i < perContext.size(); i++) {
            List<NbdExtent> list = perContext.get(i);
            if (list.size() > keep) {
                perContext.set(i, list.subList(0, keep));
            }
        }
        return perContext;
    }

    static int flagsOf(MetaContext context, Extent e) {
        if (context.equals(MetaContext.BASE_ALLOCATION)) {
            return (e.data() ? 0 : STATE_HOLE) | (e.zero() ? STATE_ZERO : 0);
        } else if (context.equals(MetaContext.ALLOCATION_DEPTH)) {
            return e.present() ? e.depth() + 1 : 0;
        }
        throw new IllegalStateException(context.contextName() + " is not answered from block status");
    }
}
