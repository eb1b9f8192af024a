package dev.strata.it;

import dev.strata.it.Corpus.ImagePair;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;

/**
 * {@code strata-img compare} against {@code qemu-img compare}: identical and differing pairs,
 * different sizes, strict mode, explicit formats, a missing file. Exit codes matter most here
 * (0 identical, 1 different, 2 error).
 */
class CompareParityTest {

    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#comparePairs")
    void compare(ImagePair pair) {
        Parity.assertSameAsQemu(Tools.prepend("compare", pair.args()));
    }

    /** The same pair the other way round (sizes and first offsets swap sides). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dev.strata.it.Corpus#comparePairs")
    void compareSwapped(ImagePair pair) {
        // -f names the first image's format and -F the second's: they swap too.
        List<String> options = pair.options().stream()
                .map(o -> o.equals("-f") ? "-F" : o.equals("-F") ? "-f" : o).toList();
        ImagePair swapped = new ImagePair(pair.second(), pair.first(), options, pair.about());
        Parity.assertSameAsQemu(Tools.prepend("compare", swapped.args()));
    }
}
