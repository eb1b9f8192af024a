package dev.strata.engine.ops.create;

/**
 * One create option a format (or the host-file protocol under it) accepts: qemu's
 * {@code QemuOptDesc}. The list order of a format's descriptions is the order qemu prints
 * options in the "Formatting ..." line; {@code -o help} prints them sorted.
 *
 * @param name         option name as typed after {@code -o} ("cluster_size", "encrypt.format")
 * @param type         how the value is parsed and printed
 * @param help         the help string of {@code -o help}
 * @param defaultValue qemu's default value string, printed when the option is not set; null if none
 */
public record CreateOptionDesc(String name, Type type, String help, String defaultValue) {

    /** qemu's QemuOptType, with the name {@code -o help} shows between angle brackets. */
    public enum Type {
        /** Any string. */
        STRING("str"),
        /** on/off (also yes/no, true/false, y/n). */
        BOOL("bool (on/off)"),
        /** An unsigned 64-bit number, decimal, 0x-hex or 0-octal. */
        NUMBER("num"),
        /** A size with an optional k/M/G/T/P/E suffix. */
        SIZE("size");

        private final String helpName;

        Type(String helpName) {
            this.helpName = helpName;
        }

        /** The type name in {@code -o help} output. */
        public String helpName() {
            return helpName;
        }
    }

    /** A description without a default value. */
    static CreateOptionDesc of(String name, Type type, String help) {
        return new CreateOptionDesc(name, type, help, null);
    }
}
