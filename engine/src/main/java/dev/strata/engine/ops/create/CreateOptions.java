package dev.strata.engine.ops.create;

import dev.strata.engine.StrataException;
import dev.strata.engine.format.Preallocation;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;

/**
 * The create options of one image, as qemu's {@code QemuOpts}: a list of descriptions (the
 * format's, then the protocol's) and the values set so far, in the order they were set. A name
 * set twice keeps both entries; reads see the last one, as {@code qemu_opt_find} does.
 *
 * <p>{@link #parse} is {@code qemu_opts_do_parse}: {@code key=value} pairs separated by commas,
 * {@code ,,} standing for a comma inside a value, a bare {@code key} meaning {@code key=on} and
 * {@code nokey} meaning {@code key=off}, {@code id=...} ignored; every value is checked against
 * its type at once, with qemu's messages.
 */
public final class CreateOptions {
    private final List<CreateOptionDesc> descs;
    private final List<Value> values = new ArrayList<>();

    /** A value that was set: the text as given and, for numbers, sizes and bools, its parse. */
    private record Value(CreateOptionDesc desc, String text, long number) {
    }

    /** Options over {@code descs} with nothing set. */
    public CreateOptions(List<CreateOptionDesc> descs) {
        this.descs = List.copyOf(descs);
    }

    /** The descriptions these options accept, in list order. */
    public List<CreateOptionDesc> descs() {
        return descs;
    }

    /**
     * Parses an {@code -o} option string into these options.
     *
     * @throws StrataException EINVAL with qemu's message ("Invalid parameter 'x'", "Parameter
     *                         'lazy_refcounts' expects 'on' or 'off'", ...)
     */
    public void parse(String params) {
        int p = 0;
        int n = params.length();
        while (p < n) {
            int nameEnd = p;
            while (nameEnd < n && params.charAt(nameEnd) != '=' && params.charAt(nameEnd) != ',') {
                nameEnd++;
            }
            String name = params.substring(p, nameEnd);
            String value;
            if (nameEnd < n && params.charAt(nameEnd) == '=') {
                StringBuilder v = new StringBuilder();
                p = readValue(params, nameEnd + 1, v);
                value = v.toString();
            } else {
                p = nameEnd;
                if (name.startsWith("no")) {
                    name = name.substring(2);
                    value = "off";
                } else {
                    value = "on";
                }
            }
            if (p < n) {
                p++; // the separating comma
            }
            if (!name.equals("id")) {
                set(name, value);
            }
        }
    }

    /** qemu's get_opt_value: up to a single comma; ",," is a comma. */
    private static int readValue(String s, int p, StringBuilder out) {
        int n = s.length();
        while (p < n) {
            char c = s.charAt(p);
            if (c == ',') {
                if (p + 1 < n && s.charAt(p + 1) == ',') {
                    out.append(',');
                    p += 2;
                    continue;
                }
                break;
            }
            out.append(c);
            p++;
        }
        return p;
    }

    /**
     * Sets {@code name} to {@code text} (qemu_opt_set), validating it against its type.
     *
     * @throws StrataException EINVAL "Invalid parameter 'NAME'" when no description has that
     *                         name, or the type's qemu message
     */
    public void set(String name, String text) {
        CreateOptionDesc desc = find(name);
        if (desc == null) {
            throw StrataException.invalid("Invalid parameter '" + name + "'");
        }
        values.add(new Value(desc, text, parseTyped(desc, text)));
    }

    /** Sets a size or number option to {@code value} (qemu_opt_set_number). */
    public void setNumber(String name, long value) {
        CreateOptionDesc desc = find(name);
        if (desc == null) {
            throw StrataException.invalid("Invalid parameter '" + name + "'");
        }
        values.add(new Value(desc, Long.toString(value), value));
    }

    /**
     * The {@code preallocation} option as file-posix and qcow2's measure read it
     * ({@code qapi_enum_parse}): off when not set.
     *
     * @throws StrataException EINVAL "invalid parameter value: X"
     */
    public Preallocation preallocation() {
        String text = get("preallocation");
        if (text == null) {
            return Preallocation.OFF;
        }
        for (Preallocation p : Preallocation.values()) {
            if (p.qemuName().equals(text)) {
                return p;
            }
        }
        throw StrataException.invalid("invalid parameter value: " + text);
    }

    /** Whether {@code name} is one of the accepted options. */
    public boolean accepts(String name) {
        return find(name) != null;
    }

    /** Whether {@code name} was set (not only defaulted). */
    public boolean isSet(String name) {
        return last(name) != null;
    }

    /** The text of {@code name}: the last set value, else the default, else null (qemu_opt_get). */
    public String get(String name) {
        Value v = last(name);
        if (v != null) {
            return v.text;
        }
        CreateOptionDesc d = find(name);
        return d == null ? null : d.defaultValue();
    }

    /**
     * A size or number option (qemu_opt_get_size / qemu_opt_get_number): the last set value,
     * else the default parsed, else {@code fallback}.
     */
    public long getNumber(String name, long fallback) {
        Value v = last(name);
        if (v != null) {
            return v.number;
        }
        CreateOptionDesc d = find(name);
        if (d == null || d.defaultValue() == null) {
            return fallback;
        }
        return parseTyped(d, d.defaultValue());
    }

    /** A bool option: the last set value, else the default, else {@code fallback}. */
    public boolean getBool(String name, boolean fallback) {
        String text = get(name);
        return text == null ? fallback : parseTyped(find(name), text) != 0;
    }

    /**
     * qemu's {@code qemu_opts_print(opts, " ")}: every description in list order that has a
     * value or a default, as {@code name=value}; strings with commas doubled, set numbers and
     * sizes as signed 64-bit decimals, everything else as given.
     */
    public String printed() {
        StringBuilder out = new StringBuilder();
        for (CreateOptionDesc d : descs) {
            Value v = last(d.name());
            String text = v != null ? v.text : d.defaultValue();
            if (text == null) {
                continue;
            }
            if (out.length() > 0) {
                out.append(' ');
            }
            out.append(d.name()).append('=');
            if (d.type() == CreateOptionDesc.Type.STRING) {
                out.append(text.replace(",", ",,"));
            } else if (v != null && (d.type() == CreateOptionDesc.Type.SIZE
                    || d.type() == CreateOptionDesc.Type.NUMBER)) {
                out.append(v.number);
            } else {
                out.append(text);
            }
        }
        return out.toString();
    }

    private CreateOptionDesc find(String name) {
        for (CreateOptionDesc d : descs) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        return null;
    }

    private Value last(String name) {
        for (int i = values.size() - 1; i >= 0; i--) {
            if (values.get(i).desc.name().equals(name)) {
                return values.get(i);
            }
        }
        return null;
    }

    private static long parseTyped(CreateOptionDesc desc, String text) {
        switch (desc.type()) {
            case BOOL:
                return parseBool(desc.name(), text) ? 1 : 0;
            case NUMBER:
                return parseNumber(desc.name(), text);
            case SIZE:
                return parseSize(desc.name(), text);
            default:
                return 0;
        }
    }

    /** qapi_bool_parse: on/yes/true/y and off/no/false/n. */
    static boolean parseBool(String name, String text) {
        switch (text) {
            case "on": case "yes": case "true": case "y":
                return true;
            case "off": case "no": case "false": case "n":
                return false;
            default:
                throw StrataException.invalid("Parameter '" + name + "' expects 'on' or 'off'");
        }
    }

    /** qemu_strtou64 with base 0 (decimal, 0x-hex, 0-octal; a leading '-' negates modulo 2^64). */
    static long parseNumber(String name, String text) {
        String t = text.strip();
        boolean negative = false;
        if (t.startsWith("-") || t.startsWith("+")) {
            negative = t.charAt(0) == '-';
            t = t.substring(1);
        }
        int radix = 10;
        if (t.length() > 1 && t.charAt(0) == '0' && (t.charAt(1) == 'x' || t.charAt(1) == 'X')) {
            radix = 16;
            t = t.substring(2);
        } else if (t.length() > 1 && t.charAt(0) == '0') {
            radix = 8;
            t = t.substring(1);
        }
        if (t.isEmpty() || !t.chars().allMatch(c -> c < 128 && Character.digit(c, 16) >= 0)
                || text.isEmpty() || Character.isWhitespace(text.charAt(text.length() - 1))) {
            throw StrataException.invalid("Parameter '" + name + "' expects a number");
        }
        BigInteger v;
        try {
            v = new BigInteger(t, radix);
        } catch (NumberFormatException e) {
            throw StrataException.invalid("Parameter '" + name + "' expects a number");
        }
        if (v.bitLength() > 64) {
            throw StrataException.invalid("Value '" + text + "' is out of range for parameter '" + name + "'");
        }
        return negative ? -v.longValue() : v.longValue();
    }

    /** parse_option_size. */
    static long parseSize(String name, String text) {
        try {
            return QemuSizeText.parse(text);
        } catch (QemuSizeText.NotASize e) {
            if (e.failure() == QemuSizeText.Failure.RANGE) {
                throw StrataException.invalid("Value '" + text + "' is out of range for parameter '" + name + "'");
            }
            throw StrataException.invalid("Parameter '" + name + "' expects a non-negative number below 2^64\n"
                    + "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                    + "and exabytes, respectively.");
        }
    }
}
