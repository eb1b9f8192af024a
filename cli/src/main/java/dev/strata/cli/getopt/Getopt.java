package dev.strata.cli.getopt;

import java.util.List;

/**
 * A faithful port of glibc's {@code getopt_long}, because qemu-img's error messages quote
 * {@code argv[optind - 1]} and so depend on exactly how getopt advances and permutes argv
 * (e.g. {@code info -xU f} complains about 'info'). Supports short option clusters, attached
 * and detached arguments, long options with '=' or a separate argument, unambiguous prefixes
 * of long names, "--", and both orderings: PERMUTE (options anywhere, the default) and
 * REQUIRE_ORDER (an optstring starting with '+': stop at the first non-option).
 *
 * <p>Optstrings are expected to start with ':' after any '+', as qemu-img's do: missing
 * arguments are reported as {@link #MISSING}, everything else as {@link #UNKNOWN}, and nothing
 * is printed here. For the few qemu-img verbs whose optstring lacks the ':' (glibc then prints its
 * own diagnostics), {@link #message()} gives the line glibc would have printed.
 */
public final class Getopt {
    /** Returned for an unknown or ambiguous option, or an argument given to a flag. */
    public static final int UNKNOWN = '?';
    /** Returned for an option whose required argument is missing. */
    public static final int MISSING = ':';
    /** Returned when the options are over; {@link #optind()} is the first non-option. */
    public static final int END = -1;

    private final String[] argv;
    private final String optstring;
    private final List<LongOption> longOptions;
    private final boolean permute;

    private int optind = 1;
    private String optarg;
    private String nextchar;
    private int firstNonopt = 1;
    private int lastNonopt = 1;
    private String message;

    /**
     * A parser over {@code argv}; {@code argv[0]} is the program (or verb) name and is skipped.
     * The array is permuted in place, as glibc does.
     */
    public Getopt(String[] argv, String optstring, List<LongOption> longOptions) {
        this.argv = argv;
        this.permute = !optstring.startsWith("+");
        this.optstring = optstring.startsWith("+") ? optstring.substring(1) : optstring;
        this.longOptions = List.copyOf(longOptions);
    }

    /** Index of the next argv element to look at; after {@link #END}, the first non-option. */
    public int optind() {
        return optind;
    }

    /** The argument of the option just returned, or null. */
    public String optarg() {
        return optarg;
    }

    /**
     * What glibc's getopt prints (after "argv[0]: ") when its optstring does not start with ':',
     * for the {@link #UNKNOWN} or {@link #MISSING} just returned ("invalid option -- 'x'",
     * "option '--size' requires an argument", ...); null after any other result.
     */
    public String message() {
        return message;
    }

    /** The (permuted) argument vector. */
    public String[] argv() {
        return argv;
    }

    private boolean nonOption(int i) {
        return argv[i].isEmpty() || argv[i].charAt(0) != '-' || argv[i].length() == 1;
    }

    /** The next option's key (a short option character or a long option's key), or END/UNKNOWN/MISSING. */
    public int next() {
        optarg = null;
        message = null;
        int argc = argv.length;
        if (nextchar == null || nextchar.isEmpty()) {
            if (lastNonopt > optind) {
                lastNonopt = optind;
            }
            if (firstNonopt > optind) {
                firstNonopt = optind;
            }
            if (permute) {
                if (firstNonopt != lastNonopt && lastNonopt != optind) {
                    exchange();
                } else if (lastNonopt != optind) {
                    firstNonopt = optind;
                }
                while (optind < argc && nonOption(optind)) {
                    optind++;
                }
                lastNonopt = optind;
            }
            if (optind != argc && argv[optind].equals("--")) {
                optind++;
                if (firstNonopt != lastNonopt && lastNonopt != optind) {
                    exchange();
                } else if (firstNonopt == lastNonopt) {
                    firstNonopt = optind;
                }
                lastNonopt = argc;
                optind = argc;
            }
            if (optind == argc) {
                if (firstNonopt != lastNonopt) {
                    optind = firstNonopt;
                }
                return END;
            }
            if (nonOption(optind)) {
                // Only reached in REQUIRE_ORDER: stop at the first non-option.
                return END;
            }
            if (argv[optind].charAt(1) == '-') {
                nextchar = argv[optind].substring(2);
                return longOption();
            }
            nextchar = argv[optind].substring(1);
        }
        char c = nextchar.charAt(0);
        nextchar = nextchar.substring(1);
        int idx = optstring.indexOf(c);
        if (nextchar.isEmpty()) {
            optind++;
        }
        if (idx < 0 || c == ':' || c == ';') {
            message = "invalid option -- '" + c + "'";
            return UNKNOWN;
        }
        if (idx + 1 < optstring.length() && optstring.charAt(idx + 1) == ':') {
            if (!nextchar.isEmpty()) {
                optarg = nextchar;
                optind++;
            } else if (optind == argc) {
                nextchar = null;
                message = "option requires an argument -- '" + c + "'";
                return MISSING;
            } else {
                optarg = argv[optind++];
            }
            nextchar = null;
        }
        return c;
    }

    private int longOption() {
        int eq = nextchar.indexOf('=');
        String name = eq < 0 ? nextchar : nextchar.substring(0, eq);
        LongOption found = null;
        for (LongOption o : longOptions) {
            if (o.name().equals(name)) {
                found = o;
                break;
            }
        }
        if (found == null) {
            boolean ambiguous = false;
            StringBuilder possibilities = new StringBuilder();
            for (LongOption o : longOptions) {
                if (o.name().startsWith(name)) {
                    if (found == null) {
                        found = o;
                        possibilities.append(" '--").append(o.name()).append('\'');
                    } else if (found.hasArg() != o.hasArg() || found.key() != o.key()) {
                        ambiguous = true;
                        possibilities.append(" '--").append(o.name()).append('\'');
                    }
                }
            }
            if (ambiguous) {
                message = "option '--" + nextchar + "' is ambiguous; possibilities:" + possibilities;
                nextchar = null;
                optind++;
                return UNKNOWN;
            }
        }
        if (found == null) {
            message = "unrecognized option '--" + nextchar + "'";
            nextchar = null;
            optind++;
            return UNKNOWN;
        }
        optind++;
        nextchar = null;
        if (eq >= 0) {
            if (found.hasArg()) {
                optarg = argv[optind - 1].substring(2 + eq + 1);
            } else {
                message = "option '--" + found.name() + "' doesn't allow an argument";
                return UNKNOWN;
            }
        } else if (found.hasArg()) {
            if (optind < argv.length) {
                optarg = argv[optind++];
            } else {
                message = "option '--" + found.name() + "' requires an argument";
                return MISSING;
            }
        }
        return found.key();
    }

    /** glibc's exchange(): moves the skipped non-options after the options just scanned. */
    private void exchange() {
        int bottom = firstNonopt;
        int middle = lastNonopt;
        int top = optind;
        String[] nonopts = java.util.Arrays.copyOfRange(argv, bottom, middle);
        String[] opts = java.util.Arrays.copyOfRange(argv, middle, top);
        System.arraycopy(opts, 0, argv, bottom, opts.length);
        System.arraycopy(nonopts, 0, argv, bottom + opts.length, nonopts.length);
        firstNonopt += optind - lastNonopt;
        lastNonopt = optind;
    }
}
