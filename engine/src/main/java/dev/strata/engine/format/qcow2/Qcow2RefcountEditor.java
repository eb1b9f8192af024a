package dev.strata.engine.format.qcow2;

import dev.strata.engine.format.CorruptionListener;
import dev.strata.engine.storage.Storage;

import java.util.function.LongConsumer;

/**
 * Changes single refcounts of an image opened read-write, for repair ({@code check -r}): a thin
 * public face of {@link Qcow2RefcountWriter} (qemu's update_refcount), so the repair writes
 * refcounts exactly as the write path does. A cluster whose refcount drops to zero is punched
 * out of the file, as qemu's repair does (it frees with QCOW2_DISCARD_ALWAYS).
 */
public final class Qcow2RefcountEditor {
    private final Qcow2RefcountWriter refcounts;

    /**
     * Reads the refcount table of {@code file}.
     *
     * @param file   the image file, writable
     * @param header its header
     */
    public Qcow2RefcountEditor(Storage file, Qcow2Header header) {
        this.refcounts = new Qcow2RefcountWriter(file, header,
                new Qcow2CorruptionSignal(file.name(), CorruptionListener.IGNORE), Qcow2RefcountWriter.NO_BARRIER);
        long clusterSize = header.clusterSize();
        int clusterBits = header.clusterBits();
        refcounts.onFreed(new LongConsumer() {
            // A class, not a lambda: every commit edits refcounts this way (see HostFiles.Binding).
            @Override
            public void accept(long index) {
                file.punchHole(index << clusterBits, clusterSize);
            }
        });
    }

    /**
     * Adds {@code addend} (negative to decrement) to the refcount of host cluster
     * {@code clusterIndex}, which must already be covered by a refcount block.
     *
     * @throws dev.strata.engine.StrataException EINVAL when the refcount would leave its range
     */
    public void add(long clusterIndex, long addend) {
        refcounts.addToCluster(clusterIndex, addend);
    }
}
