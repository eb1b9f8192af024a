package dev.strata.engine.ops.create;

/**
 * qemu-img's handling of {@code -o} arguments before they are parsed: each argument must be a
 * well-formed list ({@code is_valid_option_list}), several {@code -o} are joined with commas
 * ({@code accumulate_options}), and a list asks for help when one of its comma-separated items
 * is "help" or "?" ({@code has_help_option}).
 */
public final class OptionListText {
    private OptionListText() {
    }

    /**
     * Whether {@code arg} may be an {@code -o} argument: not empty, not starting with a comma,
     * and not ending in an odd number of commas (a lone trailing separator).
     */
    public static boolean isValid(String arg) {
        if (arg.isEmpty() || arg.charAt(0) == ',') {
            return false;
        }
        int i = arg.length();
        while (i > 0 && arg.charAt(i - 1) == ',') {
            i--;
        }
        return (arg.length() - i) % 2 == 0;
    }

    /**
     * {@code accumulated} and {@code arg} joined as qemu-img joins repeated {@code -o}.
     *
     * @param accumulated the list so far, or null
     * @return the joined list; the caller checks {@link #isValid} first and reports
     *         "Invalid option list: ARG" when it fails
     */
    public static String accumulate(String accumulated, String arg) {
        return accumulated == null ? arg : accumulated + "," + arg;
    }

    /** Whether one item of {@code list} (split at single commas, ",," being a comma) is "help" or "?". */
    public static boolean hasHelp(String list) {
        int p = 0;
        int n = list.length();
        while (p < n) {
            StringBuilder item = new StringBuilder();
            while (p < n) {
                char c = list.charAt(p);
                if (c == ',') {
                    if (p + 1 < n && list.charAt(p + 1) == ',') {
                        item.append(',');
                        p += 2;
                        continue;
                    }
                    break;
                }
                item.append(c);
                p++;
            }
            if (p < n) {
                p++;
            }
            String s = item.toString();
            if (s.equals("help") || s.equals("?")) {
                return true;
            }
        }
        return false;
    }

    /**
     * What {@code qemu-img create -o help} prints for {@code format}: with a file name, the
     * format's and the host-file protocol's options under "Supported options:"; without one, the
     * format's alone under "Supported FMT options:" and a note about the protocol level.
     *
     * @throws dev.strata.engine.StrataException "Unknown file format 'X'" or "Format driver 'X'
     *         does not support image creation"
     */
    public static String createHelp(String format, boolean withFileName) {
        CreateOperation.parseOptions(format, null);
        if (withFileName) {
            return "Supported options:\n" + CreateOptionCatalog.helpLines(CreateOptionCatalog.forCreate(format));
        }
        return "Supported " + format + " options:\n"
                + CreateOptionCatalog.helpLines(CreateOptionCatalog.formatOnly(format))
                + "\nThe protocol level may support further options.\n"
                + "Specify the target filename to include those options.\n";
    }
}
