package dev.strata.it;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The few steps the parity tests use to lay out their inputs with the real tools, and to clear
 * their work directories. Each step fails the calling test when the tool fails.
 */
final class ImageRecipes {
    private ImageRecipes() {
    }

    /** {@code qemu-img create -q -f qcow2 OPTIONS... PATH SIZE}. */
    static void create(String path, String size, String... options) {
        List<String> args = new ArrayList<>(List.of("create", "-q", "-f", "qcow2"));
        args.addAll(List.of(options));
        args.add(path);
        args.add(size);
        Tools.qemuImg(args.toArray(String[]::new)).orFail();
    }

    /** {@code qemu-io -c COMMAND... PATH}: the commands in order, on one open of the image. */
    static void io(String path, String... commands) {
        List<String> args = new ArrayList<>();
        for (String command : commands) {
            args.add("-c");
            args.add(command);
        }
        args.add(path);
        Tools.qemuIo(args.toArray(String[]::new)).orFail();
    }

    /** Deletes {@code dir} and everything under it; nothing when it does not exist. */
    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
