package dev.strata.engine.ops.commit;

import dev.strata.engine.StrataException;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The commit copy's read-ahead pipeline: steps come out in plan order with their own data while
 * buffers are reused, the planner's barrier waits for every step handed out to be written,
 * failures of the planner or of a read come after the steps planned before them, and close()
 * stops a helper that waits for a buffer or for the writes.
 */
class CommitReadAheadTest {
    private static final int BUFFER = 4096;

    /** The byte a test reader puts at guest offset {@code at}. */
    private static byte pattern(long at) {
        return (byte) (at * 31 + (at >>> 12));
    }

    private static void fillPattern(ByteBuffer dst, long offset) {
        long at = offset;
        while (dst.hasRemaining()) {
            dst.put(pattern(at++));
        }
    }

    private static CommitStep copy(long offset, long length, boolean reports) {
        return new CommitStep(CommitStep.Kind.COPY, offset, length, reports, 0f, length);
    }

    /** A mix of copies (shorter and as long as a buffer), zero writes and discards. */
    private static List<CommitStep> mixedPlan() {
        List<CommitStep> plan = new ArrayList<>();
        long pos = 0;
        for (int i = 0; i < 200; i++) {
            long len = switch (i % 5) {
                case 0 -> BUFFER;
                case 1 -> 512;
                case 2 -> 1;
                default -> 1000 + i;
            };
            if (i % 7 == 3) {
                plan.add(new CommitStep(CommitStep.Kind.ZERO, pos, len, true, i, 0));
            } else if (i % 11 == 5) {
                plan.add(new CommitStep(CommitStep.Kind.DISCARD, pos, len, true, i, 0));
            } else {
                plan.add(copy(pos, len, i % 2 == 0));
            }
            pos += len + 100;
        }
        return plan;
    }

    @Test
    void stepsComeInPlanOrderWithTheirOwnData() {
        List<CommitStep> plan = mixedPlan();
        List<CommitStep> seen = new ArrayList<>();
        try (CommitReadAhead ahead = new CommitReadAhead(out -> plan.forEach(out::accept), CommitReadAheadTest::fillPattern,
                3, BUFFER)) {
            for (CommitReadAhead.Ready r = ahead.next(); r != null; r = ahead.next()) {
                CommitStep step = r.step();
                seen.add(step);
                if (step.kind() == CommitStep.Kind.COPY) {
                    ByteBuffer data = r.data();
                    assertEquals(0, data.position());
                    assertEquals(step.length(), data.remaining());
                    byte[] expected = new byte[(int) step.length()];
                    for (int k = 0; k < expected.length; k++) {
                        expected[k] = pattern(step.offset() + k);
                    }
                    byte[] actual = new byte[expected.length];
                    data.duplicate().get(actual);
                    assertArrayEquals(expected, actual, () -> "data of " + step);
                    // the consumer writes the buffer: scribble over it before giving it back
                    while (data.hasRemaining()) {
                        data.put((byte) 0x55);
                    }
                } else {
                    assertNull(r.data(), "no buffer for " + step);
                }
                ahead.release(r);
            }
            assertNull(ahead.next(), "stays finished");
        }
        assertEquals(plan, seen);
    }

    @Test
    void plannerFailureComesAfterTheStepsPlannedBeforeIt() {
        StrataException boom = StrataException.io("planner failed");
        List<CommitStep> seen = new ArrayList<>();
        try (CommitReadAhead ahead = new CommitReadAhead(out -> {
            for (int i = 0; i < 10; i++) {
                out.accept(copy(i * 10L, 10, true));
            }
            throw boom;
        }, CommitReadAheadTest::fillPattern, 16, BUFFER)) {
            StrataException thrown = assertThrows(StrataException.class, () -> {
                for (CommitReadAhead.Ready r = ahead.next(); r != null; r = ahead.next()) {
                    seen.add(r.step());
                    ahead.release(r);
                }
            });
            assertSame(boom, thrown);
        }
        assertEquals(10, seen.size());
    }

    @Test
    void readFailureComesAfterTheStepsBeforeIt() {
        StrataException boom = StrataException.io("read failed");
        AtomicInteger reads = new AtomicInteger();
        List<CommitStep> seen = new ArrayList<>();
        try (CommitReadAhead ahead = new CommitReadAhead(out -> {
            for (int i = 0; i < 50; i++) {
                out.accept(copy(i * 100L, 100, true));
            }
        }, (dst, offset) -> {
            if (reads.incrementAndGet() == 7) {
                throw boom;
            }
            fillPattern(dst, offset);
        }, 2, BUFFER)) {
            assertSame(boom, assertThrows(StrataException.class, () -> {
                for (CommitReadAhead.Ready r = ahead.next(); r != null; r = ahead.next()) {
                    seen.add(r.step());
                    ahead.release(r);
                }
            }));
        }
        assertEquals(6, seen.size());
        assertEquals(7, reads.get(), "nothing read after the failed read");
    }

    @Test
    void closeStopsAHelperWaitingForABuffer() throws InterruptedException {
        AtomicBoolean plannerEnded = new AtomicBoolean();
        AtomicInteger reads = new AtomicInteger();
        CountDownLatch allBuffersInUse = new CountDownLatch(2);
        CommitReadAhead ahead = new CommitReadAhead(out -> {
            try {
                for (long i = 0; ; i++) {
                    out.accept(copy(i, 1, true));
                }
            } finally {
                plannerEnded.set(true);
            }
        }, (dst, offset) -> {
            reads.incrementAndGet();
            allBuffersInUse.countDown();
            fillPattern(dst, offset);
        }, 2, BUFFER);
        // take both buffers and never release them: the helper must wait for a third
        assertTrue(ahead.next() != null);
        assertTrue(ahead.next() != null);
        allBuffersInUse.await();
        assertFalse(plannerEnded.get());
        ahead.close();
        assertTrue(plannerEnded.get(), "close() returns once the planner has ended");
        assertEquals(2, reads.get(), "no read without a free buffer");
    }

    @Test
    void awaitWrittenReturnsOnceEveryStepHandedOutWasReleased() {
        AtomicInteger released = new AtomicInteger();
        List<Integer> releasedAtBarrier = new ArrayList<>();
        try (CommitReadAhead ahead = new CommitReadAhead(out -> {
            for (int round = 1; round <= 3; round++) {
                for (int i = 0; i < 5; i++) {
                    out.accept(copy(round * 1000L + i, 10, true));
                    out.accept(new CommitStep(CommitStep.Kind.ZERO, round * 1000L + 500 + i, 1, true, 0f, 0));
                }
                out.awaitWritten();
                releasedAtBarrier.add(released.get());
            }
        }, CommitReadAheadTest::fillPattern, 8, BUFFER)) {
            for (CommitReadAhead.Ready r = ahead.next(); r != null; r = ahead.next()) {
                released.incrementAndGet();
                ahead.release(r);
            }
        }
        assertEquals(List.of(10, 20, 30), releasedAtBarrier);
    }

    @Test
    void closeStopsAHelperWaitingForTheWrites() {
        AtomicBoolean plannerEnded = new AtomicBoolean();
        CommitReadAhead ahead = new CommitReadAhead(out -> {
            try {
                out.accept(copy(0, 1, true));
                out.awaitWritten();
                out.accept(copy(1, 1, true));
            } finally {
                plannerEnded.set(true);
            }
        }, CommitReadAheadTest::fillPattern, 4, BUFFER);
        assertTrue(ahead.next() != null);
        ahead.close();
        assertTrue(plannerEnded.get(), "close() returns once the planner has ended");
    }

    @Test
    void aHelperOutOfBuffersReadsAgainOnlyOnceHalfThePoolIsFree() throws InterruptedException {
        AtomicInteger reads = new AtomicInteger();
        List<CommitStep> seen = new ArrayList<>();
        try (CommitReadAhead ahead = new CommitReadAhead(out -> {
            for (long i = 0; i < 100; i++) {
                out.accept(copy(i, 1, true));
            }
        }, (dst, offset) -> {
            reads.incrementAndGet();
            fillPattern(dst, offset);
        }, 8, BUFFER)) {
            List<CommitReadAhead.Ready> held = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                held.add(ahead.next());
            }
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!ahead.helperWaitsForBuffer()) {
                assertTrue(System.nanoTime() < deadline, "the helper waits once all eight buffers are taken");
                Thread.sleep(1);
            }
            for (int i = 0; i < 3; i++) {
                ahead.release(held.get(i));
            }
            Thread.sleep(50);
            assertEquals(8, reads.get(), "three free buffers of eight leave the helper waiting");
            assertTrue(ahead.helperWaitsForBuffer());
            for (int i = 3; i < 8; i++) {
                ahead.release(held.get(i));
            }
            held.forEach(r -> seen.add(r.step()));
            for (CommitReadAhead.Ready r = ahead.next(); r != null; r = ahead.next()) {
                seen.add(r.step());
                ahead.release(r);
            }
        }
        assertEquals(100, reads.get());
        for (int i = 0; i < 100; i++) {
            assertEquals(i, seen.get(i).offset(), "plan order");
        }
    }

    @Test
    void anEmptyPlanEndsAtOnce() {
        try (CommitReadAhead ahead = new CommitReadAhead(out -> { }, CommitReadAheadTest::fillPattern, 4, BUFFER)) {
            assertNull(ahead.next());
        }
    }
}
