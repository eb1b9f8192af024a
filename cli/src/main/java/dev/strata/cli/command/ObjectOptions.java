package dev.strata.cli.command;

import dev.strata.cli.CliContext;

import java.util.Map;

/**
 * {@code --object}: qemu-img creates user-creatable objects on the spot. strata-img accepts
 * {@code secret} objects (checked as qemu checks them, then kept aside: no format that needs a
 * key is supported yet) and refuses every other type clearly.
 */
public final class ObjectOptions {
    private ObjectOptions() {
    }

    /**
     * Processes one {@code --object} argument.
     *
     * @return null to go on, or the exit code after reporting an error (or listing types)
     */
    public static Integer process(CliContext ctx, String definition) {
        Map<String, String> opts = ImageOpts.parse(definition, "qom-type");
        String type = opts.get("qom-type");
        if (type == null) {
            ctx.error("Parameter 'qom-type' is missing");
            return 1;
        }
        if (type.equals("help")) {
            ctx.out().println("List of user creatable objects:");
            ctx.out().println("  secret");
            return 0;
        }
        if (!type.equals("secret")) {
            ctx.error("Object type '" + type + "' is not supported by " + ctx.programName()
                    + " (only 'secret' is)");
            return 1;
        }
        if (!opts.containsKey("id")) {
            ctx.error("Parameter 'id' is missing");
            return 1;
        }
        if (!opts.containsKey("data") && !opts.containsKey("file")) {
            ctx.error("Either 'file' or 'data' must be provided");
            return 1;
        }
        return null;
    }
}
