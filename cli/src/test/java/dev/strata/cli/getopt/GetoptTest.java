package dev.strata.cli.getopt;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** glibc getopt_long behaviour that qemu-img's messages depend on. */
class GetoptTest {
    private static final List<LongOption> LONGS = List.of(
            new LongOption("format", true, 'f'),
            new LongOption("output", true, 256),
            new LongOption("force-share", false, 'U'),
            new LongOption("backing-chain", false, 257));

    /** Runs getopt and describes each result as "c=arg" or "?@argv[optind-1]", then the operands. */
    private static String trace(String optstring, String... args) {
        String[] argv = new String[args.length + 1];
        argv[0] = "info";
        System.arraycopy(args, 0, argv, 1, args.length);
        Getopt g = new Getopt(argv, optstring, LONGS);
        List<String> out = new ArrayList<>();
        for (int c = g.next(); c != Getopt.END; c = g.next()) {
            if (c == Getopt.UNKNOWN || c == Getopt.MISSING) {
                out.add((char) c + "@" + g.argv()[g.optind() - 1]);
                return String.join(" ", out);
            }
            out.add((c >= 256 ? Integer.toString(c) : Character.toString((char) c))
                    + (g.optarg() == null ? "" : "=" + g.optarg()));
        }
        out.add("|");
        for (int i = g.optind(); i < g.argv().length; i++) {
            out.add(g.argv()[i]);
        }
        return String.join(" ", out);
    }

    @Test
    void permutesOperandsAfterOptions() {
        assertEquals("256=json U | a", trace(":f:hU", "a", "--output", "json", "-U"));
        assertEquals("f=raw | a b", trace(":f:hU", "a", "-fraw", "b"));
        assertEquals("f=raw | -x", trace(":f:hU", "-f", "raw", "--", "-x"));
        assertEquals("| -", trace(":f:hU", "-"));
    }

    @Test
    void clustersAndAttachedArguments() {
        assertEquals("U f=raw | x", trace(":f:hU", "-Ufraw", "x"));
        assertEquals("U f=x |", trace(":f:hU", "-Uf", "x"));
        assertEquals("U :@-Uf", trace(":f:hU", "-Uf"));
    }

    @Test
    void unknownOptionsQuoteArgvOptindMinusOne() {
        assertEquals("?@-x", trace(":f:hU", "-x", "a"));
        assertEquals("U ?@-Ux", trace(":f:hU", "-Ux"));
        assertEquals("?@info", trace(":f:hU", "-xU", "a"));
        assertEquals("?@a", trace(":f:hU", "a", "-xU"));
        assertEquals("?@--backing-chain=1", trace(":f:hU", "--backing-chain=1"));
        assertEquals(":@--output", trace(":f:hU", "--output"));
    }

    @Test
    void longPrefixes() {
        assertEquals("256=json | a", trace(":f:hU", "--out=json", "a"));
        assertEquals("257 | a", trace(":f:hU", "--back", "a"));
        assertEquals("?@--f", trace(":f:hU", "--f", "a"));
        assertEquals("?@--fo", trace(":f:hU", "--fo", "raw", "a"));
        assertEquals("f=raw | a", trace(":f:hU", "--form", "raw", "a"));
    }

    @Test
    void requireOrderStopsAtTheVerb() {
        String[] argv = {"qemu-img", "-T", "x", "info", "-f", "raw"};
        Getopt g = new Getopt(argv, "+:hVT:", List.of());
        assertEquals('T', g.next());
        assertEquals("x", g.optarg());
        assertEquals(Getopt.END, g.next());
        assertEquals(3, g.optind());
    }
}
