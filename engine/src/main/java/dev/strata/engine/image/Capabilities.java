package dev.strata.engine.image;

/**
 * What an {@link Image} lets its users do; exports advertise these as NBD transmission flags.
 */
public record Capabilities(boolean canWrite, boolean canZero, boolean canTrim, boolean canFua,
                           boolean canMultiConn) {
    /** A read-only image: safe to serve over many connections at once. */
    public static Capabilities readOnly() {
        return new Capabilities(false, false, false, false, true);
    }
}
