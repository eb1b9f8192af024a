package dev.strata.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BuildDataTest {
    @Test
    void theBuildCompiledItsDataIn() {
        BuildData data = BuildData.load();
        assertNotSame(BuildData.NONE, data);
        assertTrue(data.version().matches("\\d+\\.\\d+\\.\\d+.*"), data.version());
        assertEquals(data.version(), HelpText.version());
        assertTrue(data.verbOptionIndex().startsWith("verb "), data.verbOptionIndex());
    }

    @Test
    void literalsEscapeWhatJavaNeedsEscaped() {
        assertEquals("\"a\\\"b\\\\c\\nd\\u00e9\\u0009\"", BuildDataWriter.literal("a\"b\\c\nd\u00e9\t"));
    }

    @Test
    void theSourceCarriesTheIndexLineByLine() {
        String src = BuildDataWriter.source("1.2.3", "verb x\noption a FLAG -a -a\n");
        assertTrue(src.contains("return \"1.2.3\";"), src);
        assertTrue(src.contains("+ \"verb x\\n\"\n                + \"option a FLAG -a -a\\n\";"), src);
        assertTrue(src.contains("class GeneratedBuildData implements BuildData"), src);
    }
}
