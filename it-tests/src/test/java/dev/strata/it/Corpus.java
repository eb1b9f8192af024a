package dev.strata.it;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Stream;

/**
 * The images every parity test runs on, made by the real {@code qemu-img} and {@code qemu-io}
 * once per test run (per JVM) under {@code target/corpus}: the directory is deleted and rebuilt
 * on first use, so every run starts from images the installed qemu wrote.
 *
 * <p>Names are relative to the JVM's working directory (the it-tests module), and every tool
 * runs in that directory: names show up in qemu-img's output (image names, backing chains), so
 * both sides must see the same ones. {@link CorpusRecipes} says what is in it.
 */
public final class Corpus {
    /** Where the corpus lives, relative to the working directory. */
    public static final String PREFIX = "target/corpus/";

    private static Corpus instance;
    private static Throwable failure;

    private final List<CorpusImage> images;
    private final List<ImagePair> pairs;
    private final List<BadImage> badImages;

    /**
     * A pair of images for {@code compare}.
     *
     * @param options options before the two names (e.g. "-s", "-f", "qcow2")
     */
    public record ImagePair(String first, String second, List<String> options, String about) {
        /** The compare command line after the verb. */
        public String[] args() {
            List<String> a = new ArrayList<>(options);
            a.add(first);
            a.add(second);
            return a.toArray(String[]::new);
        }

        @Override
        public String toString() {
            return about;
        }
    }

    /** A damaged or hostile image: qemu-img's verdict on it is the expected one. */
    public record BadImage(String name, String about) {
        @Override
        public String toString() {
            return name.substring(PREFIX.length()) + " (" + about + ")";
        }
    }

    private Corpus(List<CorpusImage> images, List<ImagePair> pairs, List<BadImage> badImages) {
        this.images = images;
        this.pairs = pairs;
        this.badImages = badImages;
    }

    /** The corpus, built on first call; skips (or fails, in CI) when the qemu tools are missing. */
    public static synchronized Corpus get() {
        Tools.requireTool("qemu-img");
        Tools.requireTool("qemu-io");
        if (failure != null) {
            throw new IllegalStateException("building the corpus failed earlier", failure);
        }
        if (instance == null) {
            try {
                long t0 = System.nanoTime();
                instance = build();
                System.out.printf("corpus: %d images, %d pairs, %d bad images built in %d ms under %s%n",
                        instance.images.size(), instance.pairs.size(), instance.badImages.size(),
                        (System.nanoTime() - t0) / 1_000_000, dir());
            } catch (RuntimeException | Error e) {
                failure = e;
                throw e;
            }
        }
        return instance;
    }

    /** Absolute path of the corpus directory. */
    public static Path dir() {
        return Tools.CWD.resolve(PREFIX);
    }

    public List<CorpusImage> images() {
        return images;
    }

    public List<ImagePair> pairs() {
        return pairs;
    }

    public List<BadImage> badImages() {
        return badImages;
    }

    /** Every good image (argument source for parameterized tests). */
    public static Stream<CorpusImage> all() {
        return get().images.stream();
    }

    /** Images whose backing chain opens (argument source). */
    public static Stream<CorpusImage> chains() {
        return all().filter(i -> i.has(CorpusImage.Trait.CHAIN));
    }

    /** Compare pairs (argument source). */
    public static Stream<ImagePair> comparePairs() {
        return get().pairs.stream();
    }

    /** Bad images (argument source). */
    public static Stream<BadImage> bad() {
        return get().badImages.stream();
    }

    /** The image called {@code name} (without the corpus prefix). */
    public CorpusImage image(String name) {
        return images.stream().filter(i -> i.name().equals(PREFIX + name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no corpus image " + name));
    }

    private static Corpus build() {
        Path dir = dir();
        deleteTree(dir);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        CorpusRecipes recipes = new CorpusRecipes();
        recipes.buildAll();
        List<CorpusImage> images = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (CorpusRecipes.Entry e : recipes.entries()) {
            Tools.Result r = Tools.qemuImg("info", "--output=json", e.name());
            long size;
            String format;
            if (r.exitCode() == 0) {
                try {
                    JsonNode n = json.readTree(r.stdout());
                    size = n.path("virtual-size").asLong();
                    format = n.path("format").asText();
                } catch (IOException ex) {
                    throw new UncheckedIOException(ex);
                }
            } else {
                size = -1;
                format = "?";
            }
            images.add(new CorpusImage(e.name(), format, size, e.traits(), e.about()));
        }
        return new Corpus(Collections.unmodifiableList(images), List.copyOf(recipes.pairs()),
                List.copyOf(recipes.badImages()));
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                    Files.delete(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
