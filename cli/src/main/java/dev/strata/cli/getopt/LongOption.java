package dev.strata.cli.getopt;

/**
 * One entry of a {@code struct option} table.
 *
 * @param name      the long name, without dashes
 * @param hasArg    whether the option takes a required argument
 * @param key       what {@link Getopt#next} reports for it (the short option it stands for, or a
 *                  code of 256 and above for long-only options)
 */
public record LongOption(String name, boolean hasArg, int key) {
}
