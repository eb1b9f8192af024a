package dev.strata.cli;

/**
 * A verb that takes its last argument off before getopt runs, as qemu-img resize does with its
 * size ("so that negative numbers are not treated as options"): {@code resize img -1G} reads
 * "-1G" as the size, never as an option.
 */
public interface TrailingOperand {
    /**
     * Receives the verb's arguments (without the verb name) before parsing.
     *
     * @return the arguments getopt should parse, or null when the verb has reported an error
     *         (the verb then ends with exit code 1)
     */
    String[] takeTrailingOperand(String[] args);
}
