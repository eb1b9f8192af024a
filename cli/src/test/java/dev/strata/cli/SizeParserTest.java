package dev.strata.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** qemu_strtosz semantics; the accepted/rejected forms were checked with the real qemu-img map. */
class SizeParserTest {
    private static long parse(String s) throws SizeParser.SizeException {
        return SizeParser.parse(s);
    }

    private static SizeParser.Failure failure(String s) {
        return assertThrows(SizeParser.SizeException.class, () -> SizeParser.parse(s)).failure();
    }

    @Test
    void integersAndSuffixes() throws Exception {
        assertEquals(0, parse("0"));
        assertEquals(512, parse("512"));
        assertEquals(512, parse("512b"));
        assertEquals(512, parse("512B"));
        assertEquals(2048, parse("2k"));
        assertEquals(2048, parse("2K"));
        assertEquals(3L << 20, parse("3M"));
        assertEquals(1L << 30, parse("1g"));
        assertEquals(1L << 40, parse("1T"));
        assertEquals(1L << 50, parse("1P"));
        assertEquals(1L << 60, parse("1E"));
        assertEquals(5, parse(" 5"));
        assertEquals(5, parse("+5"));
        assertEquals(0x200, parse("0x200"));
    }

    @Test
    void fractions() throws Exception {
        assertEquals(1536, parse("1.5k"));
        assertEquals(1024, parse("1.k"));
        assertEquals(1, parse("1."));
        assertEquals(3L << 59, parse("1.5e"));
        assertEquals(512, parse("0.5k"));
        assertEquals(1, parse("0.001k"));
    }

    @Test
    void rejected() {
        assertEquals(SizeParser.Failure.INVALID, failure(""));
        assertEquals(SizeParser.Failure.INVALID, failure("abc"));
        assertEquals(SizeParser.Failure.INVALID, failure("-1"));
        assertEquals(SizeParser.Failure.INVALID, failure("1.5"));
        assertEquals(SizeParser.Failure.INVALID, failure("1.5b"));
        assertEquals(SizeParser.Failure.INVALID, failure("1e3"));
        assertEquals(SizeParser.Failure.INVALID, failure("1.5e3"));
        assertEquals(SizeParser.Failure.INVALID, failure("0x"));
        assertEquals(SizeParser.Failure.INVALID, failure("0x10k"));
        assertEquals(SizeParser.Failure.INVALID, failure("0x1.5"));
        assertEquals(SizeParser.Failure.INVALID, failure(".5k"));
        assertEquals(SizeParser.Failure.INVALID, failure("5kk"));
        assertEquals(SizeParser.Failure.RANGE, failure("99999999999999999999"));
        assertEquals(SizeParser.Failure.RANGE, failure("16E"));
    }

    @Test
    void cvtnumRange() throws Exception {
        assertEquals(Long.MIN_VALUE, parse("8E"));
        assertEquals(-1, SizeParser.cvtnum(new CliContext(System.out, new java.io.PrintStream(
                java.io.OutputStream.nullOutputStream()), "x", false), "start offset", "8E"));
    }
}
