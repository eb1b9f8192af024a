package dev.strata.engine.format;

import org.junit.jupiter.api.Test;

import dev.strata.engine.StrataException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PathNamesTest {
    @Test
    void absoluteNameIsKept() {
        assertEquals("/b/base.qcow2", PathNames.combine("a/top.qcow2", "/b/base.qcow2"));
    }

    @Test
    void relativeNameGoesIntoTheOverlaysDirectory() {
        assertEquals("a/base.qcow2", PathNames.combine("a/top.qcow2", "base.qcow2"));
        assertEquals("./a/../b.raw", PathNames.combine("./a/top.qcow2", "../b.raw"));
        assertEquals("/x/y/sub/b", PathNames.combine("/x/y/top", "sub/b"));
    }

    @Test
    void overlayWithoutDirectoryLeavesNameAsIs() {
        assertEquals("base.qcow2", PathNames.combine("top.qcow2", "base.qcow2"));
    }

    @Test
    void namesWithAProtocolPassThrough() {
        assertEquals("nbd://h:10809/x", PathNames.combine("a/top.qcow2", "nbd://h:10809/x"));
        assertEquals("nbd+unix:///x?socket=/s", PathNames.combine("nbd://h/y", "nbd+unix:///x?socket=/s"));
        assertEquals("/abs/b", PathNames.combine("nbd://h/y", "/abs/b"));
    }

    @Test
    void relativeNameUnderAnNbdUrlHasNoBaseDirectory() {
        StrataException e = assertThrows(StrataException.class,
                () -> PathNames.combine("nbd+unix:///q?socket=/tmp/q.sock", "b.qcow2"));
        assertEquals("Cannot generate a base directory for NBD nodes", e.getMessage());
    }

    @Test
    void protocolPrefixFollowsQemusRule() {
        assertEquals("nbd", PathNames.protocolOf("nbd://h/x"));
        assertEquals(null, PathNames.protocolOf("./a:b"));
        assertEquals(null, PathNames.protocolOf("plain"));
    }
}
