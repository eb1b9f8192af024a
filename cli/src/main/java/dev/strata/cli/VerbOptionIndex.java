package dev.strata.cli;

import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The option tables of all verbs, taken from their annotations at build time and compiled into
 * the CLI jar ({@link BuildData#verbOptionIndex}), so that a command parses a few lines of text
 * instead of reflecting over annotations (see {@link VerbOptionTable}).
 *
 * <p>Format, one record per line, words separated by one space:
 * <pre>
 * verb CLASS
 * option FIELD FLAG|VALUE|LIST LONGEST-NAME NAME...
 * operands FIELD list|single
 * </pre>
 * {@code option} and {@code operands} lines belong to the {@code verb} line above them;
 * options are listed in picocli's order.
 */
public final class VerbOptionIndex {
    private VerbOptionIndex() {
    }

    /** Loaded on first use; empty when the jar has no index. */
    private static final class Loaded {
        static final Map<String, VerbOptionTable> TABLES = load();
    }

    /** The indexed table of {@code verbClass}, or null when the index does not list it. */
    static VerbOptionTable lookup(String verbClass) {
        return Loaded.TABLES.get(verbClass);
    }

    private static Map<String, VerbOptionTable> load() {
        String text = BuildData.load().verbOptionIndex();
        return text.isEmpty() ? Map.of() : parse(text);
    }

    /** Parses index text as {@link #render} writes it. */
    static Map<String, VerbOptionTable> parse(String text) {
        Map<String, VerbOptionTable> tables = new HashMap<>();
        String verb = null;
        List<VerbOptionTable.Option> options = new ArrayList<>();
        String operands = null;
        boolean list = false;
        for (String line : text.split("\n")) {
            String[] w = line.split(" ");
            switch (w[0]) {
                case "verb" -> {
                    if (verb != null) {
                        tables.put(verb, new VerbOptionTable(verb, options, operands, list));
                    }
                    verb = w[1];
                    options = new ArrayList<>();
                    operands = null;
                    list = false;
                }
                case "option" -> options.add(new VerbOptionTable.Option(w[1], VerbOptionTable.Kind.valueOf(w[2]), w[3],
                        List.of(Arrays.copyOfRange(w, 4, w.length))));
                case "operands" -> {
                    operands = w[1];
                    list = w[2].equals("list");
                }
                default -> throw new IllegalStateException("bad line in the verb option index: " + line);
            }
        }
        if (verb != null) {
            tables.put(verb, new VerbOptionTable(verb, options, operands, list));
        }
        return tables;
    }

    /** The index text of {@code tables}, in the given order. */
    static String render(List<VerbOptionTable> tables) {
        StringBuilder sb = new StringBuilder();
        for (VerbOptionTable t : tables) {
            sb.append("verb ").append(t.verbClass()).append('\n');
            for (VerbOptionTable.Option o : t.options()) {
                sb.append("option ").append(o.field()).append(' ').append(o.kind()).append(' ').append(o.longestName());
                for (String n : o.names()) {
                    sb.append(' ').append(n);
                }
                sb.append('\n');
            }
            if (t.operandsField() != null) {
                sb.append("operands ").append(t.operandsField()).append(' ')
                        .append(t.operandsList() ? "list" : "single").append('\n');
            }
        }
        return sb.toString();
    }

    /** The tables of every registered verb, from their annotations, in registration order. */
    static List<VerbOptionTable> fromAnnotations() {
        PrintStream nowhere = new PrintStream(OutputStream.nullOutputStream());
        CliContext ctx = new CliContext(nowhere, nowhere, "strata-img", false);
        List<VerbOptionTable> tables = new ArrayList<>();
        for (String name : Verbs.names()) {
            tables.add(VerbOptionTable.fromAnnotations(Verbs.create(name, ctx)));
        }
        return tables;
    }
}
