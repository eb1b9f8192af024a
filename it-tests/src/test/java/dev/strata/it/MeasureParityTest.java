package dev.strata.it;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code strata-img measure} against {@code qemu-img measure}: every corpus image measured for
 * raw and for qcow2 targets with several option sets, human and JSON; {@code --size} values
 * with option combinations; and the argument and option errors (bad options included: glibc's
 * message, the help, exit 0).
 */
class MeasureParityTest {
    private static final List<List<String>> TARGETS = List.of(
            List.of("-O", "raw"),
            List.of("-O", "qcow2"),
            List.of("-O", "qcow2", "-o", "cluster_size=4k"),
            List.of("-O", "qcow2", "-o", "compat=0.10"),
            List.of("-O", "qcow2", "-o", "cluster_size=2M,refcount_bits=64"),
            List.of("-O", "qcow2", "-o", "extended_l2=on,cluster_size=128k"),
            List.of("-O", "qcow2", "-o", "preallocation=full"),
            List.of("-O", "qcow2", "-o", "backing_file=x"));

    static Stream<Arguments> imageTargets() {
        List<Arguments> out = new ArrayList<>();
        Corpus.all().forEach(img -> {
            for (List<String> t : TARGETS) {
                out.add(Arguments.of(img, t));
            }
        });
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("imageTargets")
    void image(CorpusImage img, List<String> target) {
        List<String> args = new ArrayList<>(List.of("measure"));
        args.addAll(target);
        args.add(img.name());
        Parity.assertSameAsQemu(args.toArray(String[]::new));
        args.add(1, "--output=json");
        Parity.assertSameAsQemu(args.toArray(String[]::new));
    }

    static Stream<Arguments> sizes() {
        List<Arguments> out = new ArrayList<>();
        for (String size : List.of("0", "1", "512", "1M", "1G", "1.5G", "100T", "2P", "4P", "8E")) {
            for (List<String> t : TARGETS) {
                out.add(Arguments.of(size, t));
            }
            out.add(Arguments.of(size, List.of("-O", "qcow2", "-o", "cluster_size=512")));
            out.add(Arguments.of(size, List.of("-O", "qcow2", "-o", "refcount_bits=1,cluster_size=512")));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "--size {0} {1}")
    @MethodSource("sizes")
    void size(String size, List<String> target) {
        List<String> args = new ArrayList<>(List.of("measure", "--size", size));
        args.addAll(target);
        Parity.assertSameAsQemu(args.toArray(String[]::new));
        args.add(1, "--output=json");
        Parity.assertSameAsQemu(args.toArray(String[]::new));
    }

    static Stream<Arguments> errors() {
        return Stream.of(
                Arguments.of(List.of("measure")),
                Arguments.of(List.of("measure", "--size", "1G", "target/corpus/none")),
                Arguments.of(List.of("measure", "-f", "qcow2")),
                Arguments.of(List.of("measure", "--image-opts")),
                Arguments.of(List.of("measure", "--size", "1G", "a", "b")),
                Arguments.of(List.of("measure", "--size", "abc")),
                Arguments.of(List.of("measure", "--size", "-1")),
                Arguments.of(List.of("measure", "--output=xml", "--size", "1G")),
                Arguments.of(List.of("measure", "-o", "", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "foo", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "foo=bar", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "compat=v3", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "compat=foo", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "refcount_bits=8,compat=0.10", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "refcount_bits=3", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "preallocation=foo", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "cluster_size=1k,extended_l2=on", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "cluster_size=3k", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "cluster_size=512", "--size", "1E")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "encrypt.format=luks", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "lazy_refcounts=maybe", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "raw", "-o", "preallocation=foo", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "-o", "size=5G", "--size", "1G")),
                Arguments.of(List.of("measure", "-O", "qcow2", "target/corpus/none")),
                Arguments.of(List.of("measure", "--size", "abc", "-x")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("errors")
    void errors(List<String> args) {
        Parity.assertSameAsQemu(args.toArray(String[]::new));
    }

    /** img_measure's getopt string has no ':': glibc's own diagnostic, then the help, exit 0. */
    static Stream<Arguments> badOptions() {
        return Stream.of(
                Arguments.of(List.of("measure", "-x")),
                Arguments.of(List.of("measure", "-x", "--size", "1G")),
                Arguments.of(List.of("measure", "--size", "1G", "-qU")),
                Arguments.of(List.of("measure", "--bogus", "--size", "1G")),
                Arguments.of(List.of("measure", "--size=1G", "--bogus=3")),
                Arguments.of(List.of("measure", "--size", "1G", "-o")),
                Arguments.of(List.of("measure", "-O")),
                Arguments.of(List.of("measure", "--size")),
                Arguments.of(List.of("measure", "--size", "1G", "--output")),
                Arguments.of(List.of("measure", "--o", "json", "--size", "1G")),
                Arguments.of(List.of("measure", "--o=json", "--size", "1G")),
                Arguments.of(List.of("measure", "--help=3")),
                Arguments.of(List.of("measure", "--size", "1G", "--force-share=yes")));
    }

    /**
     * The same diagnostic and exit code as qemu-img, and each tool's stdout is its own global
     * help (the help texts differ by design: each lists its own formats).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("badOptions")
    void badOptions(List<String> args) {
        Tools.Result qemu = Tools.qemuImg(args.toArray(String[]::new));
        Tools.Result ours = InProcessCli.strataImg(args.toArray(String[]::new));
        assertEquals(Parity.asStrata(qemu.stderr()), ours.stderr(), "stderr");
        assertEquals(qemu.exitCode(), ours.exitCode(), "exit code");
        assertEquals(Tools.qemuImg("--help").stdout(), qemu.stdout(), "qemu-img printed its help");
        assertEquals(InProcessCli.strataImg("--help").stdout(), ours.stdout(), "strata-img printed its help");
    }
}
