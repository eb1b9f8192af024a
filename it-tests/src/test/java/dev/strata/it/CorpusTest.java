package dev.strata.it;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The corpus itself: it builds, every image is where it says, and it stays small on disk. */
class CorpusTest {

    @Test
    void buildsSmallAndComplete() {
        Corpus corpus = Corpus.get();
        for (CorpusImage img : corpus.images()) {
            assertTrue(img.path().toFile().isFile(), () -> "missing " + img);
            assertTrue(img.virtualSize() >= 0, () -> "qemu-img info failed on " + img);
        }
        Tools.Result du = Tools.run("du", "-sk", Corpus.dir().toString()).orFail();
        long kib = Long.parseLong(du.stdout().split("\\s+")[0]);
        System.out.printf("corpus: %d KiB allocated on disk%n", kib);
        assertTrue(kib < 96 * 1024, () -> "corpus uses " + kib / 1024 + " MiB on disk");
    }
}
