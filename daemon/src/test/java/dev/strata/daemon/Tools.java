package dev.strata.daemon;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Runs the real tools (qemu-img, qemu-io, qemu-nbd, nbdinfo, nbdcopy, nbdsh) for the daemon's
 * tests, always with a time limit so a test can never hang. A missing tool skips the test with a
 * clear reason, unless {@code STRATA_REQUIRE_TOOLS=1} (CI), where it fails.
 */
public final class Tools {
    /** Longest any single tool run may take. */
    public static final long TIMEOUT_SECONDS = 60;

    private Tools() {
    }

    /** The result of one run. */
    public record Result(int exitCode, String stdout, String stderr) {
        public Result ok() {
            if (exitCode != 0) {
                fail("exit " + exitCode + "\nstdout:\n" + stdout + "\nstderr:\n" + stderr);
            }
            return this;
        }
    }

    /** Skips (or fails under STRATA_REQUIRE_TOOLS=1) unless every tool is on the PATH. */
    public static void require(String... tools) {
        List<String> missing = new ArrayList<>();
        for (String t : tools) {
            if (which(t) == null) {
                missing.add(t);
            }
        }
        if (!missing.isEmpty()) {
            String why = "missing tools " + missing + " (Debian: qemu-utils libnbd-bin python3-libnbd fuse libfuse2)";
            if ("1".equals(System.getenv("STRATA_REQUIRE_TOOLS"))) {
                fail(why + "; STRATA_REQUIRE_TOOLS=1 makes this a failure");
            }
            assumeTrue(false, why);
        }
    }

    /** The tool's path: /usr/bin first (nbdsh must be Debian's, whose Python has the nbd module). */
    static Path which(String tool) {
        List<String> dirs = new ArrayList<>(List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin"));
        String path = System.getenv("PATH");
        if (path != null) {
            dirs.addAll(List.of(path.split(":")));
        }
        for (String d : dirs) {
            Path p = Path.of(d, tool);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** Runs {@code cmd} in {@code dir} (may be null) and returns its outcome. */
    public static Result run(Path dir, String... cmd) {
        return run(dir, Map.of(), cmd);
    }

    public static Result run(Path dir, Map<String, String> env, String... cmd) {
        List<String> argv = new ArrayList<>(List.of(cmd));
        Path exe = which(argv.get(0));
        if (exe != null) {
            argv.set(0, exe.toString());
        }
        ProcessBuilder pb = new ProcessBuilder(argv);
        if (dir != null) {
            pb.directory(dir.toFile());
        }
        pb.environment().put("PATH", "/usr/bin:/bin:" + System.getenv().getOrDefault("PATH", ""));
        pb.environment().put("LC_ALL", "C.UTF-8");
        pb.environment().putAll(env);
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Process p = pb.start();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            Thread to = pump(p.getInputStream(), out);
            Thread te = pump(p.getErrorStream(), err);
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
                fail(String.join(" ", cmd) + ": still running after " + TIMEOUT_SECONDS + " s");
            }
            to.join(5000);
            te.join(5000);
            return new Result(p.exitValue(), out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static Thread pump(InputStream in, ByteArrayOutputStream to) {
        Thread t = new Thread(() -> {
            try {
                in.transferTo(to);
            } catch (IOException ignored) {
                // process gone
            }
        });
        t.setDaemon(true);
        t.start();
        return t;
    }

    /** sha256 of a file, hex. */
    public static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
            return java.util.HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
