package dev.strata.engine.format;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
}
