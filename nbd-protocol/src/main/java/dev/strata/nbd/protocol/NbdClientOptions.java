package dev.strata.nbd.protocol;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * How {@link NbdClient} negotiates.
 *
 * @param timeout           limit for connecting and for every blocking call (each handshake
 *                          reply, each request); on expiry the connection is closed
 * @param structuredReplies ask for {@code NBD_OPT_STRUCTURED_REPLY} (needed for block status)
 * @param metaContexts      queries for {@code NBD_OPT_SET_META_CONTEXT}, e.g. {@code base:allocation};
 *                          empty to skip the option
 */
public record NbdClientOptions(Duration timeout, boolean structuredReplies, List<String> metaContexts) {

    public NbdClientOptions {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive");
        }
        metaContexts = List.copyOf(metaContexts);
    }

    /** 30 s timeout, structured replies, {@code base:allocation}. */
    public static NbdClientOptions defaults() {
        return new NbdClientOptions(Duration.ofSeconds(30), true, List.of(NbdConstants.CONTEXT_BASE_ALLOCATION));
    }

    public NbdClientOptions withTimeout(Duration newTimeout) {
        return new NbdClientOptions(newTimeout, structuredReplies, metaContexts);
    }

    public NbdClientOptions withStructuredReplies(boolean enabled) {
        return new NbdClientOptions(timeout, enabled, metaContexts);
    }

    public NbdClientOptions withMetaContexts(List<String> queries) {
        return new NbdClientOptions(timeout, structuredReplies, queries);
    }
}
