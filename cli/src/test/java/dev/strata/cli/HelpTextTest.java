package dev.strata.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** --help and --version are ours: truthful about our name, verbs and formats. */
class HelpTextTest {
    private record Out(String out, String err, int code) {
    }

    private static Out run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = StrataImg.run(args, new CliContext(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), "strata-img", false));
        return new Out(out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), code);
    }

    @Test
    void versionIsOurs() {
        for (String opt : new String[] {"-V", "--version", "--vers"}) {
            Out o = run(opt);
            assertEquals(0, o.code());
            assertTrue(o.out().startsWith("strata-img version "), o.out());
            assertTrue(o.out().contains("(qemu-img 7.2 compatible)"), o.out());
            assertFalse(o.out().contains("Bellard"), o.out());
        }
    }

    @Test
    void helpListsRegisteredVerbsAndFormats() {
        Out o = run("--help");
        assertEquals(0, o.code());
        assertTrue(o.out().startsWith("strata-img version "), o.out());
        assertTrue(o.out().contains("usage: strata-img [standard options] command [command options]\n"));
        assertTrue(o.out().contains("\n  info [--object objectdef] [--image-opts] [-f fmt] [--output=ofmt]"));
        assertTrue(o.out().contains("\n  map [--object objectdef]"));
        assertTrue(o.out().contains("\n  compare [--object objectdef]"));
        assertTrue(o.out().contains("\n  convert [--object objectdef]"), o.out());
        for (String verb : new String[] {"amend", "bench", "bitmap", "check", "commit", "compare", "convert", "create",
            "dd", "info", "map", "measure", "rebase", "resize", "snapshot"}) {
            assertTrue(o.out().contains("\n  " + verb + " "), () -> verb + " is not listed:\n" + o.out());
        }
        assertTrue(o.out().contains("\nSupported formats:") && o.out().contains(" raw"));
        assertTrue(o.out().endsWith("\n"));
    }

    @Test
    void verbHelpPrintsTheGlobalHelpLikeQemuImg() {
        assertEquals(run("--help"), run("info", "-h"));
        assertEquals(run("--help"), run("map", "--help", "-x"));
        assertEquals(run("--help"), run("compare", "-h"));
        assertEquals(run("-h"), run("--help"));
    }

    @Test
    void errorsUseOurProgramName() {
        Out o = run("bogus");
        assertEquals(1, o.code());
        assertEquals("strata-img: Command not found: bogus\nTry 'strata-img --help' for more information\n", o.err());
        o = run("info", "--debug", "x");
        assertEquals("strata-img: unrecognized option '--debug'\nTry 'strata-img --help' for more information\n",
                o.err());
        assertEquals(1, run("--debug", "info", "/nonexistent/x").code());
    }
}
