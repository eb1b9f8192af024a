package dev.strata.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * The qemu-img verbs strata-img knows, in qemu-img's help order. Each verb is a picocli
 * {@code @Command} object implementing {@code Callable<Integer>} (its exit code), built from
 * the {@link CliContext} it must write to.
 */
final class Verbs {
    private static final Map<String, Function<CliContext, Object>> VERBS = new LinkedHashMap<>();

    static {
        // Registered as they become available; a verb missing here is reported as unknown.
    }

    private Verbs() {
    }

    /** The verb called {@code name}, built for {@code ctx}, or null if unknown. */
    static Object create(String name, CliContext ctx) {
        Function<CliContext, Object> f = VERBS.get(name);
        return f == null ? null : f.apply(ctx);
    }

    /** Names of the registered verbs. */
    static Iterable<String> names() {
        return VERBS.keySet();
    }
}
