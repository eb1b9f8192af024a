package dev.strata.engine.ops.create;

/**
 * The target of {@code qemu-img convert} (or {@code dd}), created as img_convert does rather
 * than as {@code qemu-img create}: the output format's create options are parsed from
 * {@code -o}, the size is set to the sources' total (overriding any {@code -o size=}), the
 * backing file of {@code -B}/{@code -F} is recorded without being opened, and the format driver
 * creates the image ({@code bdrv_create}).
 */
public final class ConvertTarget {
    private final CreatePlan plan;

    private ConvertTarget(CreatePlan plan) {
        this.plan = plan;
    }

    /**
     * Parses and checks the target's create options.
     *
     * @param format        the output format ({@code -O})
     * @param fileName      the output file name
     * @param options       the accumulated {@code -o} text, or null
     * @param size          the total size of the sources in bytes
     * @param backingFile   {@code -B}, or null
     * @param backingFormat {@code -F}, or null
     * @throws dev.strata.engine.StrataException in qemu's words ("Unknown file format 'X'",
     *         "Invalid parameter 'x'", "Backing file not supported for file format 'raw'", ...)
     */
    public static ConvertTarget prepare(String format, String fileName, String options, long size,
                                        String backingFile, String backingFormat) {
        CreateOptions opts = CreateOperation.parseOptions(format, options);
        opts.setNumber("size", size);
        if (backingFile != null) {
            if (!opts.accepts("backing_file")) {
                throw dev.strata.engine.StrataException.invalid(
                        "Backing file not supported for file format '" + format + "'");
            }
            opts.set("backing_file", backingFile);
        }
        if (backingFormat != null) {
            if (!opts.accepts("backing_fmt")) {
                throw dev.strata.engine.StrataException.invalid(
                        "Backing file format not supported for file format '" + format + "'");
            }
            opts.set("backing_fmt", backingFormat);
        }
        return new ConvertTarget(new CreatePlan(format, fileName, opts));
    }

    /** The backing file the target will name ({@code -B} or {@code -o backing_file}), or null. */
    public String backingFile() {
        return plan.options().get("backing_file");
    }

    /** The backing format the target will record, or null. */
    public String backingFormat() {
        return plan.options().get("backing_fmt");
    }

    /** Whether the output format can hold compressed clusters. */
    public boolean canCompress() {
        return plan.format().equals("qcow2");
    }

    /** Whether encryption was asked for ({@code encryption=on} or {@code encrypt.format}). */
    public boolean encrypted() {
        CreateOptions o = plan.options();
        return (o.accepts("encryption") && o.getBool("encryption", false))
                || (o.accepts("encrypt.format") && o.get("encrypt.format") != null);
    }

    /** Whether a preallocation other than "off" was asked for. */
    public boolean preallocated() {
        String p = plan.options().accepts("preallocation") ? plan.options().get("preallocation") : null;
        return p != null && !p.equals("off");
    }

    /**
     * Creates the image file.
     *
     * @throws dev.strata.engine.StrataException the format's error, in qemu's words
     */
    public void execute() {
        plan.execute();
    }
}
