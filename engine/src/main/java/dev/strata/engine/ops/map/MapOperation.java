package dev.strata.engine.ops.map;

import dev.strata.engine.image.Extent;
import dev.strata.engine.image.Image;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * {@code qemu-img map}: the merged block status of a guest range, exactly the entries qemu-img
 * 7.2's {@code img_map} dumps, in the order and at the moments it dumps them.
 *
 * <p>The range is [start, min(start + maxLength, size)), with qemu's arithmetic (a sum that
 * overflows wraps, and an empty range results). Entries are handed out as soon as the next
 * block status shows they are complete, so a failure part-way leaves the earlier entries
 * delivered, as qemu-img's output does. When the range is empty qemu-img still dumps its
 * initial, zero-length entry at {@code start}; so does this operation.
 */
public final class MapOperation {
    /** {@code maxLength} meaning "to the end of the image" (qemu's default of -1). */
    public static final long NO_LIMIT = -1;

    /** Receives the entries of a walk. */
    @FunctionalInterface
    public interface Sink {
        /**
         * One complete entry.
         *
         * @param last whether this is the final entry of the walk
         * @return false to stop the walk (the renderer found an entry it cannot print)
         */
        boolean entry(Extent entry, boolean last);
    }

    /**
     * Tells the walking thread of {@link #walkAhead} which entry its sink will refuse, so that
     * the walk stops there, as the plain walk does, instead of running on ahead: qemu-img stops
     * querying block status at that entry, and a query past it could meet corrupt metadata
     * qemu-img never reads (and print a corruption event qemu-img does not).
     */
    @FunctionalInterface
    public interface Refusal {
        /** Never refuses. */
        Refusal NONE = new Refusal() {
            @Override
            public boolean refuses(Extent entry, boolean first) {
                return false;
            }
        };

        /**
         * Whether the sink will return false for {@code entry}.
         *
         * @param first whether it is the first entry of the walk
         */
        boolean refuses(Extent entry, boolean first);
    }

    private MapOperation() {
    }

    /**
     * Walks {@code image} from {@code start} for at most {@code maxLength} bytes
     * ({@link #NO_LIMIT} for all), handing each merged entry to {@code sink}.
     *
     * @return true when the walk ran to the end, false when the sink stopped it
     * @throws dev.strata.engine.StrataException when block status fails (corrupt metadata);
     *         entries before the failure have been delivered
     */
    public static boolean walk(Image image, long start, long maxLength, Sink sink) {
        long end = image.size();
        if (maxLength != NO_LIMIT) {
            end = Math.min(start + maxLength, end);
        }
        Extent curr = null;
        long pos = start;
        while (pos < end) {
            Extent next = image.blockStatusAt(pos, end - pos);
            if (curr != null && curr.mergeableWith(next)) {
                curr = curr.extendedBy(next);
            } else {
                if (curr != null && !sink.entry(curr, false)) {
                    return false;
                }
                curr = next;
            }
            pos = next.end();
        }
        if (curr == null) {
            curr = new Extent(start, 0, 0, false, false, false, false, -1, null);
        }
        return sink.entry(curr, true);
    }

    /**
     * {@link #walk}, with the block-status walk on a second thread running ahead of
     * {@code sink}, so that computing entries and printing them overlap (a large map spends
     * about as long in each). The sink sees exactly the entries, order and {@code last} flags of
     * {@link #walk}, on the calling thread; a failure of the walk is rethrown on the calling
     * thread after the entries before it were delivered. The walk queries no block status past
     * an entry that {@code refusal} says the sink refuses.
     */
    public static boolean walkAhead(Image image, long start, long maxLength, Refusal refusal, Sink sink) {
        BlockingQueue<Object> queue = new ArrayBlockingQueue<>(64);
        Thread producer = new AheadWalk(image, start, maxLength, refusal, queue);
        producer.start();
        try {
            while (true) {
                Object item = take(queue);
                if (item instanceof Last l) {
                    return deliver(sink, l.entries(), true);
                }
                if (item instanceof Refused r) {
                    deliver(sink, r.entries(), false);
                    return false;
                }
                if (item instanceof Failed f) {
                    if (!deliver(sink, f.entries(), false)) {
                        return false;
                    }
                    if (f.error() instanceof RuntimeException re) {
                        throw re;
                    }
                    throw (Error) f.error();
                }
                @SuppressWarnings("unchecked")
                List<Extent> entries = (List<Extent>) item;
                if (!deliver(sink, entries, false)) {
                    return false;
                }
            }
        } finally {
            producer.interrupt();
        }
    }

    private static final int BATCH = 1024;

    /**
     * The producer of {@link #walkAhead}: walks on its own thread and queues the entries in
     * batches, then a {@link Last}, a {@link Refused} or a {@link Failed}. A class rather than lambdas: map is a
     * short command whose start-up counts (see StartupLambdaTest in the integration tests).
     */
    private static final class AheadWalk extends Thread implements Sink {
        private final Image image;
        private final long start;
        private final long maxLength;
        private final Refusal refusal;
        private final BlockingQueue<Object> queue;
        private final List<Extent> batch = new ArrayList<>(BATCH);
        private boolean first = true;

        AheadWalk(Image image, long start, long maxLength, Refusal refusal, BlockingQueue<Object> queue) {
            super("map-walk");
            setDaemon(true);
            this.image = image;
            this.start = start;
            this.maxLength = maxLength;
            this.refusal = refusal;
            this.queue = queue;
        }

        @Override
        public void run() {
            try {
                walk(image, start, maxLength, this);
            } catch (RuntimeException | Error e) {
                put(queue, new Failed(List.copyOf(batch), e));
            }
        }

        @Override
        public boolean entry(Extent e, boolean last) {
            batch.add(e);
            boolean refused = refusal.refuses(e, first);
            first = false;
            if (refused) {
                put(queue, new Refused(List.copyOf(batch)));
                batch.clear();
                return false;
            }
            if (last) {
                put(queue, new Last(List.copyOf(batch)));
                batch.clear();
            } else if (batch.size() == BATCH) {
                put(queue, List.copyOf(batch));
                batch.clear();
            }
            return !isInterrupted();
        }
    }

    private record Last(List<Extent> entries) {
    }

    /** The entries up to one the sink refuses (the last of them); the walk stopped there. */
    private record Refused(List<Extent> entries) {
    }

    private record Failed(List<Extent> entries, Throwable error) {
    }

    private static boolean deliver(Sink sink, List<Extent> entries, boolean endsWalk) {
        for (int i = 0; i < entries.size(); i++) {
            if (!sink.entry(entries.get(i), endsWalk && i == entries.size() - 1)) {
                return false;
            }
        }
        return true;
    }

    private static void put(BlockingQueue<Object> queue, Object item) {
        try {
            queue.put(item);
        } catch (InterruptedException e) {
            // The consumer stopped early; the walk ends with it.
            Thread.currentThread().interrupt();
        }
    }

    private static Object take(BlockingQueue<Object> queue) {
        try {
            return queue.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the map walk", e);
        }
    }

    /** All entries of the walk as a list (for callers that need no streaming). */
    public static List<Extent> map(Image image, long start, long maxLength) {
        List<Extent> list = new ArrayList<>();
        walk(image, start, maxLength, (e, last) -> list.add(e));
        return list;
    }
}
