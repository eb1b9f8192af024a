package dev.strata.daemon;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code --fork}: qemu-nbd forks and the parent exits once the server is running. A JVM cannot
 * fork, so the parent starts a second JVM with the same class path, JVM options and arguments,
 * in a new session ({@code setsid}) with stdin from /dev/null and stderr shared, and waits for
 * the child to write {@code READY} on its stdout pipe. The parent then exits 0; if the child dies
 * first, the parent exits with 1 (the child has already printed its error on the shared stderr).
 */
final class ForkLauncher {
    /** Environment variable marking the forked child. */
    static final String CHILD_ENV = "STRATAD_FORKED_CHILD";
    private static final String READY = "READY";

    private ForkLauncher() {
    }

    static boolean isChild() {
        return "1".equals(System.getenv(CHILD_ENV));
    }

    static int forkAndWait(String[] args) {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
            cmd.add("/usr/bin/setsid");
        }
        cmd.add(ProcessHandle.current().info().command().orElse(
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Stratad.class.getName());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .redirectOutput(ProcessBuilder.Redirect.PIPE);
        pb.environment().put(CHILD_ENV, "1");
        Process child;
        try {
            child = pb.start();
        } catch (IOException e) {
            throw new DaemonException("--fork: could not start the server process: " + e.getMessage(), e);
        }
        try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.US_ASCII))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (READY.equals(line)) {
                    return 0;
                }
            }
        } catch (IOException e) {
            // child went away
        }
        try {
            child.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 1;
    }

    /** In the forked child: tells the parent the server is ready and lets go of the pipe. */
    static void notifyReadyIfChild() {
        if (!isChild()) {
            return;
        }
        System.out.println(READY);
        System.out.flush();
        System.out.close();
    }
}
