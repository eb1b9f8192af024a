package dev.strata.it;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@code strata-img info} against {@code qemu-img info} on every corpus image. */
class InfoParityTest {

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void human(CorpusImage img) {
        Parity.assertSameAsQemu("info", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void json(CorpusImage img) {
        Parity.assertSameAsQemu("info", "--output=json", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void backingChainHuman(CorpusImage img) {
        Parity.assertSameAsQemu("info", "--backing-chain", img.name());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void backingChainJson(CorpusImage img) {
        Parity.assertSameAsQemu("info", "--backing-chain", "--output=json", img.name());
    }

    /** With {@code -f}, no probing: the format qemu-img detected, given explicitly. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#all")
    void explicitFormat(CorpusImage img) {
        assumeTrue(!img.format().equals("?"), "qemu-img could not tell the format");
        Parity.assertSameAsQemu("info", "-f", img.format(), img.name());
    }

    /** Absolute names: backing names are combined with an absolute directory. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#chains")
    void backingChainAbsoluteName(CorpusImage img) {
        Parity.assertSameAsQemu("info", "--backing-chain", img.absoluteName());
    }
}
