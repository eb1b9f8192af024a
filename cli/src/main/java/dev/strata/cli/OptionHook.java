package dev.strata.cli;

/**
 * Lets a verb act on an option as getopt returns it, the way qemu-img checks some options
 * (sizes, --object) while still parsing, so errors come out in command-line order.
 */
public interface OptionHook {
    /**
     * Called by the verb parser for each option in command-line order after its value is stored.
     *
     * @param longestName the option's longest name ("--start-offset")
     * @return null to go on, or an exit code to stop with (the verb has reported why)
     */
    Integer onOption(String longestName, String value);
}
