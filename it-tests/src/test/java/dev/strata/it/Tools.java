package dev.strata.it;

import org.junit.jupiter.api.Assumptions;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * Runs the real tools (qemu-img, qemu-io, ...) as child processes, always with a time limit:
 * a tool that hangs is killed and reported, never waited for forever.
 *
 * <p>Tool availability: {@link #requireTool} skips the calling test when a tool is missing,
 * unless {@code STRATA_REQUIRE_TOOLS=1} is set (CI, {@code scripts/test}); then a missing tool
 * fails the test.
 */
public final class Tools {
    /** Default time limit of one tool run. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    /** The working directory of this JVM: the CLI resolves relative names against it. */
    public static final Path CWD = Path.of(System.getProperty("user.dir")).toAbsolutePath();

    /**
     * The repository's bin/strata-img ($STRATA_ROOT, else the parent of this module), checked to
     * be executable.
     */
    public static Path launcher() {
        String root = System.getenv("STRATA_ROOT");
        Path repo = root != null && !root.isEmpty() ? Path.of(root) : CWD.getParent();
        Path launcher = repo.resolve("bin/strata-img").toAbsolutePath();
        if (!Files.isExecutable(launcher)) {
            fail("no executable launcher at " + launcher);
        }
        return launcher;
    }

    private static final Map<String, Boolean> PRESENT = new ConcurrentHashMap<>();

    private Tools() {
    }

    /**
     * What a process did.
     *
     * @param exitCode the exit status, or -1 if it was killed at its time limit
     * @param timedOut whether the time limit struck
     */
    public record Result(List<String> command, int exitCode, String stdout, String stderr, boolean timedOut) {
        /** Fails (with the command's output) unless the process exited 0. */
        public Result orFail() {
            if (timedOut || exitCode != 0) {
                fail("command failed (" + (timedOut ? "timed out" : "exit " + exitCode) + "): "
                        + String.join(" ", command) + "\nstdout:\n" + stdout + "\nstderr:\n" + stderr);
            }
            return this;
        }
    }

    /** Whether {@code STRATA_REQUIRE_TOOLS=1}: missing tools fail instead of skipping. */
    public static boolean toolsRequired() {
        return "1".equals(System.getenv("STRATA_REQUIRE_TOOLS"));
    }

    /** Whether an executable called {@code name} is on PATH. */
    public static boolean hasTool(String name) {
        return PRESENT.computeIfAbsent(name, n -> {
            String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
            for (String dir : path.split(":")) {
                if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, n))) {
                    return true;
                }
            }
            return false;
        });
    }

    /**
     * Skips the current test when {@code name} is not installed, or fails it when tools are
     * required ({@code STRATA_REQUIRE_TOOLS=1}).
     */
    public static void requireTool(String name) {
        if (hasTool(name)) {
            return;
        }
        String why = name + " is not installed (scripts/test installs it)";
        if (toolsRequired()) {
            fail(why + "; STRATA_REQUIRE_TOOLS=1 makes this a failure");
        }
        Assumptions.abort(why);
    }

    /** Runs {@code command} in this JVM's working directory with the default time limit. */
    public static Result run(String... command) {
        return run(CWD, DEFAULT_TIMEOUT, command);
    }

    /** Runs {@code command} in {@code dir}; kills it (and its children) after {@code timeout}. */
    public static Result run(Path dir, Duration timeout, String... command) {
        return run(dir, timeout, Map.of(), command);
    }

    /** As {@link #run(Path, Duration, String...)} with extra environment variables. */
    public static Result run(Path dir, Duration timeout, Map<String, String> env, String... command) {
        List<String> cmd = List.of(command);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().putAll(env);
        // Stable, untranslated messages from the tools.
        pb.environment().put("LC_ALL", "C");
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + String.join(" ", cmd), e);
        }
        StreamDrain out = new StreamDrain(p.getInputStream());
        StreamDrain err = new StreamDrain(p.getErrorStream());
        boolean done;
        try {
            done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!done) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
            out.join(10_000);
            err.join(10_000);
        } catch (InterruptedException e) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + cmd, e);
        }
        return new Result(cmd, done ? p.exitValue() : -1, out.text(), err.text(), !done);
    }

    /** {@code qemu-img ARGS} in this JVM's working directory. */
    public static Result qemuImg(String... args) {
        return run(CWD, DEFAULT_TIMEOUT, prepend("qemu-img", args));
    }

    /** {@code qemu-img ARGS} with a time limit of its own (for inputs qemu-img may hang on). */
    public static Result qemuImg(Duration timeout, String... args) {
        return run(CWD, timeout, prepend("qemu-img", args));
    }

    /** {@code qemu-io ARGS} in this JVM's working directory. */
    public static Result qemuIo(String... args) {
        return run(CWD, DEFAULT_TIMEOUT, prepend("qemu-io", args));
    }

    static String[] prepend(String first, String... rest) {
        List<String> all = new ArrayList<>(rest.length + 1);
        all.add(first);
        all.addAll(Arrays.asList(rest));
        return all.toArray(String[]::new);
    }

    /** Reads a child's stream on its own thread so that a full pipe never blocks the child. */
    private static final class StreamDrain extends Thread {
        private final InputStream in;
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();

        StreamDrain(InputStream in) {
            this.in = in;
            setDaemon(true);
            start();
        }

        @Override
        public void run() {
            try (in) {
                in.transferTo(buf);
            } catch (IOException e) {
                // The process was killed; keep what was read.
            }
        }

        String text() {
            synchronized (buf) {
                return buf.toString(StandardCharsets.UTF_8);
            }
        }
    }
}
