package dev.strata.engine.format.qcow2.check;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The rebuild plan's invariants (its byte-exact layout is compared with real qemu-img in
 * CheckRepairParityTest): every cluster in use ends up covered by a refblock that the final
 * reftable points at, each refblock's last write holds the final recount of its range, new
 * structures only take clusters that were free, and refcount entries of every width round-trip.
 */
class RefcountRebuildTest {

    @Test
    void entriesOfEveryWidthRoundTrip() {
        Random random = new Random(7);
        for (int order = 0; order <= 6; order++) {
            byte[] block = new byte[512];
            long entries = 512L * 8 >> order;
            long max = order == 6 ? -1L : (1L << (1 << order)) - 1;
            long[] values = new long[(int) entries];
            for (int i = 0; i < entries; i++) {
                values[i] = random.nextLong() & max;
                StoredRefcounts.put(block, i, order, values[i]);
            }
            for (int i = 0; i < entries; i++) {
                assertEquals(values[i], StoredRefcounts.entry(block, i, order), "order " + order + " entry " + i);
            }
        }
    }

    @Test
    void planCoversEveryUsedClusterWithItsFinalCounts() {
        for (int order : new int[] {0, 4, 6}) {
            for (long seed = 1; seed <= 20; seed++) {
                checkPlan(order, seed);
            }
        }
    }

    private static void checkPlan(int order, long seed) {
        int clusterBits = 9;
        int blockBits = clusterBits - (order - 3);
        Random random = new Random(seed);
        long clusters = 200 + random.nextInt(5000);
        long max = order == 6 ? -1L : (1L << (1 << order)) - 1;
        ComputedRefcounts imrt = new ComputedRefcounts(clusters, max);
        Set<Long> usedBefore = new HashSet<>();
        for (long c = 0; c < clusters; c++) {
            if (c == 0 || random.nextInt(3) > 0) {
                imrt.increment(c);
                usedBefore.add(c);
            }
        }
        RefcountRebuild plan = RefcountRebuild.plan(imrt, clusterBits, order);

        Map<Long, byte[]> lastWrite = new HashMap<>();
        RefcountRebuild.Write table = null;
        for (RefcountRebuild.Write w : plan.writes()) {
            assertTrue(!usedBefore.contains(w.offset() >>> clusterBits), "a new structure took a cluster in use");
            if (w.reftable()) {
                table = w;
            } else {
                lastWrite.put(w.offset(), w.data());
            }
        }
        assertNotEquals(null, table, "no reftable written");
        ByteBuffer reftable = ByteBuffer.wrap(table.data());
        for (long c = 0; c < imrt.size(); c++) {
            long index = c >>> blockBits;
            long blockOffset = index * 8 < reftable.capacity() ? reftable.getLong((int) index * 8) : 0;
            long count = imrt.get(c);
            if (blockOffset == 0) {
                assertEquals(0, count, "cluster " + c + " in use but not covered");
                continue;
            }
            byte[] block = lastWrite.get(blockOffset);
            assertEquals(count, StoredRefcounts.entry(block, c - (index << blockBits), order), "cluster " + c);
        }
        long tableStart = table.offset() >>> clusterBits;
        for (long c = tableStart; c < tableStart + (table.data().length + 511) / 512; c++) {
            assertEquals(1, imrt.get(c), "reftable cluster " + c + " not counted");
        }
    }
}
