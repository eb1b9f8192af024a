package dev.strata.engine.ops.create;

import dev.strata.engine.ErrorKind;
import dev.strata.engine.StrataException;

/**
 * A create error that carries qemu's hint: text printed as it is after the error line (qemu's
 * {@code error_append_hint}), such as "Could not open backing image.\n" or
 * "Detected format of qcow2." (the latter really without a final newline).
 */
public final class CreateFailure extends StrataException {
    private static final long serialVersionUID = 1L;
    private final String hint;

    /** A failure of {@code kind} with {@code message} and the raw {@code hint} text. */
    public CreateFailure(ErrorKind kind, String message, String hint) {
        super(kind, message);
        this.hint = hint;
    }

    /** The hint, printed verbatim after the error line (may lack a final newline). */
    public String hint() {
        return hint;
    }
}
