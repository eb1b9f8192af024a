package dev.strata.it;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code strata-img map} against {@code qemu-img map} on every corpus image, whole and in
 * windows that start and end at odd offsets.
 */
class MapParityTest {

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void human(CorpusImage img) {
        Parity.assertSameAsQemu("map", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void json(CorpusImage img) {
        Parity.assertSameAsQemu("map", "--output=json", img.name());
    }

    /** A window from a quarter in (plus an odd amount) for half the image (plus some). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void windowHuman(CorpusImage img) {
        Parity.assertSameAsQemu("map", "--start-offset=" + start(img), "--max-length=" + length(img), img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void windowJson(CorpusImage img) {
        Parity.assertSameAsQemu("map", "--output=json", "--start-offset=" + start(img),
                "--max-length=" + length(img), img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void startOffsetOnly(CorpusImage img) {
        Parity.assertSameAsQemu("map", "--output=json", "--start-offset=" + start(img), img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void maxLengthOnly(CorpusImage img) {
        Parity.assertSameAsQemu("map", "--max-length=" + length(img), img.name());
    }

    /** Starting past the end: nothing to print. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void pastTheEnd(CorpusImage img) {
        Parity.assertSameAsQemu("map", "--output=json", "--start-offset=" + (size(img) + 4096), img.name());
    }

    private static long size(CorpusImage img) {
        return Math.max(0, img.virtualSize());
    }

    private static long start(CorpusImage img) {
        return size(img) / 4 + 4097;
    }

    private static long length(CorpusImage img) {
        return size(img) / 2 + 1000;
    }
}
