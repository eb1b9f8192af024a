package dev.strata.engine.ops.convert;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntPredicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OrderedWritesTest {
    /** Chunk i covers sectors [8i, 8i+8). */
    private static final int N = 8;

    /**
     * Eight threads take {@code chunks} chunks in order, as convert's workers do, "read" each for
     * a random while (so submissions arrive out of order), and submit it, or skip it where
     * {@code skipped} says. Returns the sectors written, in the order the writes ran; fails on
     * two writes at once or a submit that reports its write not done.
     */
    private static List<Long> submitFromEightThreads(int chunks, long seed, IntPredicate skipped) throws Exception {
        int[] readNanos = new java.util.Random(seed).ints(chunks, 0, 200_000).toArray();
        List<Long> written = new CopyOnWriteArrayList<>();
        AtomicInteger running = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        OrderedWrites writes = new OrderedWrites(e -> {
            throw new AssertionError("no write fails here", e);
        });
        AtomicInteger next = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                results.add(pool.submit(() -> {
                    boolean all = true;
                    for (int k; (k = next.getAndIncrement()) < chunks; ) {
                        long sector = (long) k * N;
                        java.util.concurrent.locks.LockSupport.parkNanos(readNanos[k]);
                        if (skipped.test(k)) {
                            writes.skip(sector, N);
                            continue;
                        }
                        all &= writes.submit(sector, N, () -> {
                            if (running.incrementAndGet() != 1) {
                                overlaps.incrementAndGet();
                            }
                            written.add(sector);
                            running.decrementAndGet();
                        });
                    }
                    return all;
                }));
            }
            for (Future<Boolean> r : results) {
                assertTrue(r.get(30, TimeUnit.SECONDS), "every submit reports its write done");
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(0, overlaps.get(), "two writes ran at once");
        return written;
    }

    @Test
    void writesRunOnceEachInSectorOrderWhateverOrderTheyArriveIn() throws Exception {
        int chunks = 2000;
        List<Long> written = submitFromEightThreads(chunks, 42, k -> false);
        assertEquals(chunks, written.size());
        for (int i = 0; i < chunks; i++) {
            assertEquals((long) i * N, written.get(i), "write " + i + " out of order");
        }
    }

    @Test
    void aSubmitterReturnsOnlyOnceItsWriteHasRun() throws Exception {
        OrderedWrites writes = new OrderedWrites(e -> {
        });
        AtomicReference<Boolean> laterRan = new AtomicReference<>(false);
        CountDownLatch laterReturned = new CountDownLatch(1);
        Thread later = new Thread(() -> {
            writes.submit(N, N, () -> laterRan.set(true));
            laterReturned.countDown();
        });
        later.start();
        assertFalse(laterReturned.await(200, TimeUnit.MILLISECONDS), "chunk 1 returned before chunk 0 was written");
        assertFalse(laterRan.get());
        assertTrue(writes.submit(0, N, () -> {
        }));
        assertTrue(laterReturned.await(10, TimeUnit.SECONDS));
        assertTrue(laterRan.get(), "the writer of chunk 0 went on to write the waiting chunk 1");
        later.join();
    }

    @Test
    void aFailedWriteIsReportedOnceAndNothingAfterItIsWritten() throws Exception {
        RuntimeException boom = new IllegalStateException("boom");
        List<RuntimeException> reported = new CopyOnWriteArrayList<>();
        AtomicReference<OrderedWrites> ref = new AtomicReference<>();
        OrderedWrites writes = new OrderedWrites(e -> {
            reported.add(e);
            ref.get().abort();
        });
        ref.set(writes);
        List<Long> written = new CopyOnWriteArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Boolean>> later = new ArrayList<>();
            for (int i = 2; i < 6; i++) {
                long sector = (long) i * N;
                later.add(pool.submit(() -> writes.submit(sector, N, () -> written.add(sector))));
            }
            Thread.sleep(100);
            assertTrue(writes.submit(0, N, () -> written.add(0L)));
            assertFalse(writes.submit(N, N, () -> {
                throw boom;
            }));
            for (Future<Boolean> f : later) {
                assertFalse(f.get(10, TimeUnit.SECONDS), "a chunk after the failed one reported written");
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(List.of(0L), written);
        assertEquals(1, reported.size());
        assertSame(boom, reported.get(0));
    }

    @Test
    void skippedChunksKeepTheOrderOfTheWrittenOnes() throws Exception {
        int chunks = 2000;
        List<Long> written = submitFromEightThreads(chunks, 7, k -> k % 3 != 0);
        List<Long> expected = new ArrayList<>();
        for (int k = 0; k < chunks; k += 3) {
            expected.add((long) k * N);
        }
        assertEquals(expected, written);
    }

    @Test
    void aSkipReturnsAtOnceAndTheWriterPassesOverIt() throws Exception {
        OrderedWrites writes = new OrderedWrites(e -> {
        });
        List<Long> written = new CopyOnWriteArrayList<>();
        CountDownLatch thirdReturned = new CountDownLatch(1);
        Thread third = new Thread(() -> {
            writes.submit(2 * N, N, () -> written.add(2L * N));
            thirdReturned.countDown();
        });
        third.start();
        writes.skip(N, N); // not its turn: chunk 0 is still to come
        assertFalse(thirdReturned.await(100, TimeUnit.MILLISECONDS));
        assertTrue(writes.submit(0, N, () -> written.add(0L)));
        assertTrue(thirdReturned.await(10, TimeUnit.SECONDS), "the writer of chunk 0 passed over chunk 1 to chunk 2");
        assertEquals(List.of(0L, 2L * N), written);
        third.join();
    }

    @Test
    void aSkipInItsTurnWritesTheWaitingChunksAfterIt() throws Exception {
        OrderedWrites writes = new OrderedWrites(e -> {
        });
        AtomicReference<Thread> writer = new AtomicReference<>();
        CountDownLatch thirdReturned = new CountDownLatch(1);
        AtomicReference<Boolean> thirdResult = new AtomicReference<>();
        Thread third = new Thread(() -> {
            thirdResult.set(writes.submit(2 * N, N, () -> writer.set(Thread.currentThread())));
            thirdReturned.countDown();
        });
        third.start();
        assertTrue(writes.submit(0, N, () -> {
        }));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!writes.waits(2 * N)) {
            assertTrue(System.nanoTime() < deadline, "chunk 2 waits for chunk 1");
            Thread.sleep(1);
        }
        assertEquals(1, thirdReturned.getCount());
        writes.skip(N, N);
        assertTrue(thirdReturned.await(10, TimeUnit.SECONDS));
        assertTrue(thirdResult.get());
        assertSame(Thread.currentThread(), writer.get(), "the skipping thread wrote chunk 2");
        third.join();
    }

    @Test
    void afterAbortNewSubmissionsReturnWithoutWriting() {
        OrderedWrites writes = new OrderedWrites(e -> {
        });
        writes.abort();
        AtomicInteger ran = new AtomicInteger();
        assertFalse(writes.submit(0, N, ran::incrementAndGet));
        assertFalse(writes.submit(N, N, ran::incrementAndGet));
        assertEquals(0, ran.get());
    }
}
