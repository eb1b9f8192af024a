package dev.strata.it;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** {@code strata-img check} (no repair) against {@code qemu-img check} on every corpus image. */
class CheckParityTest {

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void human(CorpusImage img) {
        Parity.assertSameAsQemu("check", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void json(CorpusImage img) {
        Parity.assertSameAsQemu("check", "--output=json", img.name());
    }
}
