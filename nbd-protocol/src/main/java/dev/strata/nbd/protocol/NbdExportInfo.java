package dev.strata.nbd.protocol;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What the handshake established about the export an {@link NbdClient} is attached to.
 *
 * @param exportName        the name the client asked for
 * @param size              export size in bytes
 * @param transmissionFlags {@code NBD_FLAG_*} transmission flags
 * @param blockSize         size constraints from {@code NBD_INFO_BLOCK_SIZE}, or {@code null} if the
 *                          server sent none (defaults apply: 1 / 4096 / 32 MiB)
 * @param structuredReplies whether structured replies were negotiated
 * @param metaContexts      selected metadata contexts, id to name, in the server's order
 */
public record NbdExportInfo(String exportName, long size, int transmissionFlags, NbdInfo.BlockSize blockSize,
                            boolean structuredReplies, Map<Integer, String> metaContexts) {

    public NbdExportInfo {
        Objects.requireNonNull(exportName, "exportName");
        metaContexts = Collections.unmodifiableMap(new LinkedHashMap<>(metaContexts));
    }

    public boolean hasFlag(int flag) {
        return (transmissionFlags & flag) != 0;
    }

    public boolean readOnly() {
        return hasFlag(NbdConstants.FLAG_READ_ONLY);
    }

    /** Minimum block size (alignment of every offset and length the client sends). */
    public long minimumBlockSize() {
        return blockSize == null ? 1 : Math.max(1, blockSize.minimum());
    }

    /** Largest READ/WRITE payload the client will send in one request (at most 32 MiB). */
    public int maximumPayload() {
        long max = blockSize == null ? NbdConstants.DEFAULT_MAX_PAYLOAD
                : Math.min(blockSize.maximumPayload(), NbdConstants.DEFAULT_MAX_PAYLOAD);
        long min = minimumBlockSize();
        return (int) Math.max(min, max - max % min);
    }
}
