package dev.strata.cli;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Runs the real qemu-img / qemu-io (the specification) and strata-img in-process, for parity
 * tests. A missing qemu-img is a failure, not a skip: the test command installs it.
 */
public final class RealQemu {
    private RealQemu() {
    }

    /** What one run printed and returned. */
    public record Run(String out, String err, int code) {
        @Override
        public String toString() {
            return "exit " + code + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /** Runs {@code tool args...} in {@code dir} and returns its output. */
    public static Run tool(Path dir, String tool, List<String> args) {
        return tool(dir, tool, args, java.util.Map.of());
    }

    /** Runs {@code tool args...} in {@code dir} with extra environment variables. */
    public static Run tool(Path dir, String tool, List<String> args, java.util.Map<String, String> env) {
        List<String> cmd = new ArrayList<>();
        cmd.add(tool);
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().put("LC_ALL", "C");
        pb.environment().putAll(env);
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> slurp(p.getErrorStream()));
            String out = slurp(p.getInputStream());
            int code = p.waitFor();
            return new Run(out, err.join(), code);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + tool + " (install qemu-utils)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Runs the real qemu-img. */
    public static Run qemuImg(Path dir, String... args) {
        return tool(dir, "qemu-img", List.of(args));
    }

    /** Runs qemu-img and fails unless it exits 0. */
    public static Run mustQemuImg(Path dir, String... args) {
        Run r = qemuImg(dir, args);
        if (r.code() != 0) {
            throw new AssertionError("qemu-img " + String.join(" ", args) + " failed: " + r);
        }
        return r;
    }

    /**
     * Runs qemu-img and fails unless it exits 0, trying again (up to 20 runs in all, 100 ms apart)
     * while it fails with "Unable to get accurate CPU usage": qemu's LUKS PBKDF benchmark gives up
     * that way now and then on a loaded machine when a round measures 0 ms of thread CPU time,
     * sometimes several times running.
     */
    public static Run mustQemuImgRetryingCpuBenchmark(Path dir, String... args) {
        Run r = qemuImg(dir, args);
        for (int i = 0; i < 19 && r.code() != 0 && r.err().contains("Unable to get accurate CPU usage"); i++) {
            java.util.concurrent.locks.LockSupport.parkNanos(100_000_000L);
            r = qemuImg(dir, args);
        }
        if (r.code() != 0) {
            throw new AssertionError("qemu-img " + String.join(" ", args) + " failed: " + r);
        }
        return r;
    }

    /** Runs qemu-io and fails unless it exits 0. */
    public static void mustQemuIo(Path dir, String... args) {
        Run r = tool(dir, "qemu-io", List.of(args));
        if (r.code() != 0) {
            throw new AssertionError("qemu-io " + String.join(" ", args) + " failed: " + r);
        }
    }

    /** Runs strata-img in-process under the program name "qemu-img", so outputs compare as they are. */
    public static Run strata(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        int code = StrataImg.run(args, new CliContext(o, e, "qemu-img", false));
        o.flush();
        e.flush();
        return new Run(out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), code);
    }

    private static String slurp(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
