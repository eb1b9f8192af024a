package dev.strata.cli;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.List;

/**
 * The options and operands one verb class declares with picocli's {@code @Option} and
 * {@code @Parameters} annotations, as {@link VerbParser} needs them: each option's names,
 * whether it takes an argument, whether it collects repeated values, and the field it fills.
 *
 * <p>Design note: reading annotations at run time is the most expensive part of a short
 * strata-img command (the first annotation read spins JDK proxy classes, picocli's model then
 * scans every jar on the class path for resources; together more than the rest of the verb's
 * start-up). So the table is taken from annotations once, at build time, by
 * {@link VerbOptionIndex}, which the build compiles into the CLI jar ({@link BuildData});
 * {@link #of} reads that index and falls back to the annotations only when the index does not
 * know the class (a build that skipped {@code process-classes}, such as an IDE's). Values are
 * stored into the fields with plain reflection, exactly as picocli's setters did: a flag gets
 * {@code true}, a list option one more element, any other option its argument.
 */
record VerbOptionTable(String verbClass, List<Option> options, String operandsField, boolean operandsList) {
    /** What an option's field holds. */
    enum Kind {
        /** boolean: no argument, set to true when given. */
        FLAG,
        /** One argument; the last one given wins. */
        VALUE,
        /** One argument per occurrence, collected in a {@code List<String>}. */
        LIST
    }

    /**
     * One option of a verb.
     *
     * @param field       name of the verb's field it fills
     * @param kind        what the field holds
     * @param longestName picocli's {@code longestName()}, the name {@link OptionHook} receives
     * @param names       the option's names as declared ("-f", "--format")
     */
    record Option(String field, Kind kind, String longestName, List<String> names) {
        /** Whether getopt must take an argument for this option. */
        boolean takesArgument() {
            return kind != Kind.FLAG;
        }
    }

    /**
     * @param verbClass     name of the verb class described
     * @param options       the options, in the order picocli reports them
     * @param operandsField field receiving the operands, or null when the verb declares none
     * @param operandsList  whether that field is a {@code List<String>} (else one {@code String})
     */
    VerbOptionTable {
        options = List.copyOf(options);
    }

    /** The table of {@code verb}'s class: from the build-time index, else from its annotations. */
    static VerbOptionTable of(Object verb) {
        VerbOptionTable t = VerbOptionIndex.lookup(verb.getClass().getName());
        return t != null ? t : fromAnnotations(verb);
    }

    /**
     * The table picocli's annotation model gives for {@code verb}, options in picocli's order
     * (which is the order getopt's long-option table and abbreviation messages follow).
     */
    static VerbOptionTable fromAnnotations(Object verb) {
        CommandSpec spec = CommandSpec.forAnnotatedObject(verb);
        List<Option> options = new ArrayList<>();
        for (OptionSpec o : spec.options()) {
            Kind kind = o.arity().max() == 0 ? Kind.FLAG
                    : List.class.isAssignableFrom(o.type()) ? Kind.LIST : Kind.VALUE;
            options.add(new Option(fieldName(o.userObject()), kind, o.longestName(), List.of(o.names())));
        }
        String operands = null;
        boolean list = false;
        List<PositionalParamSpec> positionals = spec.positionalParameters();
        if (!positionals.isEmpty()) {
            operands = fieldName(positionals.get(0).userObject());
            list = List.class.isAssignableFrom(positionals.get(0).type());
        }
        return new VerbOptionTable(verb.getClass().getName(), options, operands, list);
    }

    private static String fieldName(Object annotated) {
        if (annotated instanceof Field f) {
            return f.getName();
        }
        throw new IllegalStateException("verb options must be annotated fields, not " + annotated);
    }

    /** Stores one occurrence of option {@code o} (with {@code value}, null for a flag) in {@code verb}. */
    @SuppressWarnings("unchecked")
    void store(Object verb, Option o, String value) {
        Field f = field(verb, o.field());
        try {
            switch (o.kind()) {
                case FLAG -> f.set(verb, Boolean.TRUE);
                case LIST -> {
                    Object current = f.get(verb);
                    List<String> list = current == null ? new ArrayList<>() : new ArrayList<>((List<String>) current);
                    list.add(value);
                    f.set(verb, list);
                }
                case VALUE -> f.set(verb, value);
            }
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Hands the non-option arguments to the operands field (the first one if it is a String). */
    void storeOperands(Object verb, List<String> rest) {
        if (operandsField == null) {
            return;
        }
        try {
            field(verb, operandsField).set(verb, operandsList ? rest : rest.isEmpty() ? null : rest.get(0));
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Field field(Object verb, String name) {
        for (Class<?> c = verb.getClass(); c != null; c = c.getSuperclass()) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f;
            } catch (NoSuchFieldException e) {
                // declared further up
            }
        }
        throw new IllegalStateException("no field " + name + " in " + verb.getClass().getName());
    }
}
