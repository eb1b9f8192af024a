package dev.strata.cli;

import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * The build-time index of verb options (generated in {@code process-classes}) says exactly what the
 * picocli annotations say, for every registered verb; and every registered name builds its verb.
 */
class VerbOptionIndexTest {
    private static final PrintStream NOWHERE = new PrintStream(OutputStream.nullOutputStream());
    private static final CliContext CTX = new CliContext(NOWHERE, NOWHERE, "strata-img", false);

    @Test
    void indexInTheBuildMatchesTheAnnotations() {
        assertNotSame(BuildData.NONE, BuildData.load(), "the build generated no " + BuildData.GENERATED);
        String text = BuildData.load().verbOptionIndex();
        List<VerbOptionTable> reflected = VerbOptionIndex.fromAnnotations();
        assertEquals(VerbOptionIndex.render(reflected), text);
        Map<String, VerbOptionTable> indexed = VerbOptionIndex.parse(text);
        assertEquals(reflected.size(), indexed.size());
        for (VerbOptionTable t : reflected) {
            assertEquals(t, indexed.get(t.verbClass()));
            assertEquals(t, VerbOptionIndex.lookup(t.verbClass()));
        }
    }

    @Test
    void everyRegisteredNameBuildsItsVerb() {
        for (String name : Verbs.names()) {
            Object verb = Verbs.create(name, CTX);
            assertNotNull(verb, name);
            String simple = verb.getClass().getSimpleName().toLowerCase();
            assertEquals(name + "command", simple);
            assertSame(true, Verbs.isKnown(name));
        }
        assertNull(Verbs.create("nosuchverb", CTX));
        assertEquals(false, Verbs.isKnown("nosuchverb"));
    }
}
