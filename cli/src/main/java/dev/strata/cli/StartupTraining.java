package dev.strata.cli;

import dev.strata.engine.storage.FileStorage;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * The training run behind {@code bin/strata-img}'s AppCDS archive: one JVM that runs the common
 * verbs on small images it makes in a temporary directory, so that the class list the launcher
 * records ({@code -XX:DumpLoadedClassList}) covers the classes of all of them, not only of the
 * one command that happened to run first after a build.
 *
 * <p>Design note: every command goes through {@link StrataImg#run} exactly as a real command
 * line does (dispatcher, option index, verb, engine, output rendering), with output thrown away.
 * The images are made by strata-img itself (create, convert from a raw file written here), so
 * training needs no other tool. Failures are ignored: a verb that fails still loaded most of its
 * classes, and the archive only makes start-up faster, never changes what a command does.
 * Covered: create, convert (qcow2, raw, a backing chain, zlib and zstd compression, -n), info,
 * map (human and JSON), check, compare, measure, resize, snapshot (create, list, apply, delete),
 * bitmap, amend, dd, commit, rebase (safe and -u), bench (read and write), --version, --help and
 * an error.
 */
public final class StartupTraining {
    private static final int MIB = 1 << 20;

    private StartupTraining() {
    }

    /** Runs the training commands; exits 0 whatever they returned. */
    public static void main(String[] args) throws IOException {
        // What StrataImg.main does before running a verb.
        System.getenv("STRATA_DEBUG");
        FileStorage.prepareHostQueries();
        Path dir = Files.createTempDirectory("strata-img-training");
        try {
            train(dir);
        } finally {
            deleteTree(dir);
        }
        System.exit(0);
    }

    private static void train(Path dir) throws IOException {
        String d = dir.toString() + "/";
        writeHalfSparseRaw(dir.resolve("data.raw"), 8 * MIB);
        List<String[]> commands = List.of(
                cmd("create", "-q", "-f", "qcow2", d + "new.qcow2", "8M"),
                cmd("convert", "-f", "raw", "-O", "qcow2", d + "data.raw", d + "base.qcow2"),
                cmd("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", d + "top.qcow2"),
                cmd("info", d + "top.qcow2"),
                cmd("info", "--output=json", "--backing-chain", d + "top.qcow2"),
                cmd("info", "-f", "raw", d + "data.raw"),
                cmd("map", d + "top.qcow2"),
                cmd("map", "--output=json", d + "top.qcow2"),
                cmd("check", d + "base.qcow2"),
                cmd("check", "--output=json", d + "top.qcow2"),
                cmd("compare", d + "data.raw", d + "top.qcow2"),
                cmd("convert", "-O", "raw", d + "top.qcow2", d + "out.raw"),
                cmd("convert", "-O", "qcow2", d + "top.qcow2", d + "flat.qcow2"),
                cmd("convert", "-c", "-O", "qcow2", d + "data.raw", d + "zlib.qcow2"),
                cmd("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", d + "data.raw", d + "zstd.qcow2"),
                cmd("measure", "-O", "qcow2", d + "top.qcow2"),
                cmd("resize", d + "new.qcow2", "16M"),
                cmd("snapshot", "-c", "s1", d + "new.qcow2"),
                cmd("snapshot", "-l", d + "new.qcow2"),
                cmd("snapshot", "-a", "s1", d + "new.qcow2"),
                cmd("snapshot", "-d", "s1", d + "new.qcow2"),
                cmd("bitmap", "--add", d + "new.qcow2", "b0"),
                cmd("bitmap", "--add", "-g", "128k", "--disable", d + "new.qcow2", "b1"),
                cmd("bitmap", "--merge", "b0", "--enable", d + "new.qcow2", "b1"),
                cmd("bitmap", "--clear", "--remove", d + "new.qcow2", "b0"),
                cmd("amend", "-o", "lazy_refcounts=on", d + "new.qcow2"),
                cmd("dd", "-f", "raw", "-O", "qcow2", "bs=64k", "count=32", "if=" + d + "data.raw",
                        "of=" + d + "dd.qcow2"),
                cmd("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", d + "mid.qcow2"),
                cmd("convert", "-n", "-f", "raw", "-O", "qcow2", d + "data.raw", d + "mid.qcow2"),
                cmd("commit", "-q", d + "mid.qcow2"),
                cmd("rebase", "-q", "-b", "flat.qcow2", "-F", "qcow2", d + "top.qcow2"),
                cmd("rebase", "-q", "-u", "-b", "base.qcow2", "-F", "qcow2", d + "top.qcow2"),
                cmd("bench", "-c", "64", "-s", "64k", d + "flat.qcow2"),
                cmd("bench", "-w", "-c", "64", "-s", "64k", d + "new.qcow2"),
                cmd("info", d + "no-such-image.qcow2"),
                cmd("--version"),
                cmd("--help"));
        PrintStream nowhere = new PrintStream(OutputStream.nullOutputStream());
        CliContext ctx = new CliContext(nowhere, nowhere, "strata-img", false);
        for (String[] c : commands) {
            try {
                StrataImg.run(c, ctx);
            } catch (RuntimeException e) {
                // Training only loads classes; a failing verb is not this run's concern.
            }
        }
    }

    private static String[] cmd(String... args) {
        return args;
    }

    /** {@code size} bytes: 1 MiB data extents (random bytes, then zeros half-way) between holes. */
    private static void writeHalfSparseRaw(Path file, int size) throws IOException {
        Random random = new Random(1);
        byte[] block = new byte[MIB];
        random.nextBytes(block);
        Arrays.fill(block, MIB / 2, MIB, (byte) 0);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(0);
            f.setLength(size);
            FileChannel ch = f.getChannel();
            for (long at = 0; at < size; at += 2L * MIB) {
                ch.write(ByteBuffer.wrap(block), at);
            }
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            // A temporary directory left behind is harmless.
        }
    }
}
