package dev.strata.it;

import java.nio.file.Path;
import java.util.Set;

/**
 * One image of the test corpus.
 *
 * @param name        the name tests pass on command lines: relative to the JVM's working
 *                    directory (both our CLI and qemu-img run there), e.g.
 *                    {@code target/corpus/qcow2/c512.qcow2}; it shows up in the output
 * @param format      the format qemu-img reports for it ("qcow2", "raw")
 * @param virtualSize guest size in bytes as qemu-img reports it
 * @param traits      what is special about it
 * @param about       a few words for test names and failure messages
 */
public record CorpusImage(String name, String format, long virtualSize, Set<Trait> traits, String about) {

    /** What a corpus image exercises; tests pick images by trait. */
    public enum Trait {
        /** Has a backing file (the chain opens). */
        CHAIN,
        /** Too big to read whole: compared in windows. */
        HUGE,
        /** Cannot be fully opened by qemu either (e.g. its data file is not found). */
        BROKEN,
        /** Its data lives in an external data file. */
        DATA_FILE,
        /** Has internal snapshots. */
        SNAPSHOTS,
        /** Has persistent dirty bitmaps. */
        BITMAPS,
        /** Compressed clusters. */
        COMPRESSED
    }

    /** Absolute path of the image. */
    public Path path() {
        return Tools.CWD.resolve(name);
    }

    /** Absolute name of the image (for command lines that use one). */
    public String absoluteName() {
        return path().toString();
    }

    public boolean has(Trait t) {
        return traits.contains(t);
    }

    @Override
    public String toString() {
        String shortName = name.startsWith(Corpus.PREFIX) ? name.substring(Corpus.PREFIX.length()) : name;
        return shortName + " (" + about + ")";
    }
}
