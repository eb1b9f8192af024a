package dev.strata.cli;

/**
 * Marks a verb whose qemu-img getopt string has no leading ':' and treats '?' as '-h' (qemu-img
 * 7.2's measure): an unknown option or a missing argument makes glibc print its own diagnostic
 * ("measure: invalid option -- 'x'"), then qemu-img prints the global help and exits 0.
 */
public interface HelpOnBadOption {
}
