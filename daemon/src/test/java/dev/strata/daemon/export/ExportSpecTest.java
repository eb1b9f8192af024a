package dev.strata.daemon.export;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExportSpecTest {
    @Test
    void parsesEveryKey() {
        ExportSpec s = ExportSpec.parse("name=disk,file=a.qcow2,format=qcow2,description=my disk,allocation-depth=on", false);
        assertEquals(new ExportSpec("disk", "a.qcow2", "qcow2", "my disk", true), s);
    }

    @Test
    void defaultsComeFromTheCommandLine() {
        ExportSpec s = ExportSpec.parse("name=,file=a.img", true);
        assertEquals("", s.name());
        assertNull(s.format());
        assertEquals("", s.description());
        assertTrue(s.allocationDepth());
        assertFalse(ExportSpec.parse("name=x,file=a,allocation-depth=off", true).allocationDepth());
    }

    @Test
    void doubledCommaIsALiteralComma() {
        ExportSpec s = ExportSpec.parse("name=a,,b,file=x,,y.raw,description=one,, two", false);
        assertEquals("a,b", s.name());
        assertEquals("x,y.raw", s.file());
        assertEquals("one, two", s.description());
    }

    @Test
    void refusesMalformedValues() {
        assertThrows(IllegalArgumentException.class, () -> ExportSpec.parse("file=a", false));
        assertThrows(IllegalArgumentException.class, () -> ExportSpec.parse("name=a", false));
        assertThrows(IllegalArgumentException.class, () -> ExportSpec.parse("name=a,file=b,colour=red", false));
        assertThrows(IllegalArgumentException.class, () -> ExportSpec.parse("name=a,name=b,file=c", false));
        assertThrows(IllegalArgumentException.class, () -> ExportSpec.parse("name=a,file=b,junk", false));
        assertThrows(IllegalArgumentException.class, () -> ExportSpec.parse("name=a,file=b,allocation-depth=maybe", false));
    }
}
