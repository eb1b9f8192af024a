package dev.strata.it;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A real qemu process (qemu-io sleeping, qemu-nbd serving) that keeps an image open, and so
 * holds qemu's image locks on it, until {@link #close}. {@link #start} returns once the lock
 * bytes show in {@code /proc/locks}, so that a command run next really meets them.
 */
final class LockHolder implements AutoCloseable {
    private final Process process;

    private LockHolder(Process process) {
        this.process = process;
    }

    /**
     * Runs {@code command} in {@code dir} and waits until some process holds a lock on byte 100
     * (qemu's "consistent read" byte, which every qemu reader and writer takes) of {@code file}.
     */
    static LockHolder start(Path dir, Path file, String... command) {
        ProcessBuilder pb = new ProcessBuilder(command).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(dir.resolve("holder.err").toFile());
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + String.join(" ", command), e);
        }
        LockHolder holder = new LockHolder(p);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!consistentReadLocked(file)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                holder.close();
                fail("holder did not lock " + file + ": " + String.join(" ", command) + "\n" + read(dir.resolve("holder.err")));
            }
            sleep();
        }
        return holder;
    }

    /** Whether {@code /proc/locks} lists an open-file-description lock on byte 100 of {@code file}. */
    static boolean consistentReadLocked(Path file) {
        try {
            long ino = ((Number) Files.getAttribute(file, "unix:ino")).longValue();
            List<String> lines = Files.readAllLines(Path.of("/proc/locks"));
            // "1: OFDLCK ADVISORY  READ -1 fe:00:INODE START END": adjacent bytes show as one range
            for (String line : lines) {
                String[] w = line.trim().split("\\s+");
                if (w.length >= 8 && w[1].equals("OFDLCK") && w[5].endsWith(":" + ino)
                        && Long.parseLong(w[6]) <= 100 && (w[7].equals("EOF") || Long.parseLong(w[7]) >= 100)) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String read(Path p) {
        try {
            return Files.exists(p) ? Files.readString(p) : "";
        } catch (IOException e) {
            return "";
        }
    }

    private static void sleep() {
        try {
            Thread.sleep(20);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
