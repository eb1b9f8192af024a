package dev.strata.cli.command;

import dev.strata.cli.CliContext;

/** qemu-img's {@code --output}: human (the default) or json. */
public enum OutputFormat {
    HUMAN, JSON;

    /**
     * The format named by {@code value} (null for the default), or null after reporting
     * qemu-img's error.
     */
    static OutputFormat parse(CliContext ctx, String value) {
        if (value == null || value.equals("human")) {
            return HUMAN;
        }
        if (value.equals("json")) {
            return JSON;
        }
        ctx.error("--output must be used with human or json as argument.");
        return null;
    }
}
