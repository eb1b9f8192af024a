package dev.strata.engine.format.qcow2.check;

import dev.strata.engine.StrataException;
import dev.strata.engine.ops.check.CheckListener;
import dev.strata.engine.ops.check.CheckOp;
import dev.strata.engine.ops.check.CheckOutcome;
import dev.strata.engine.ops.check.CheckReport;
import dev.strata.engine.ops.info.ImageSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Runs the real qemu-img / qemu-io for the check tests, and runs our check the way qemu-img
 * check reports it: the diagnostics stream (stderr, with "qemu-img: " where qemu uses
 * error_report), the report's counters, and the exit code.
 */
final class QemuCheck {
    private static final String PROGRAM = "qemu-img";
    private static final Pattern JSON_NUMBER = Pattern.compile("\"([a-z-]+)\": (\\d+)");

    private QemuCheck() {
    }

    /** What a check printed on stderr, the report counters (from --output=json) and the exit code. */
    record Result(String stderr, Map<String, Long> counters, int exitCode) {
    }

    /** Runs a tool and returns {stdout, stderr, exit code}. */
    static Object[] tool(Path dir, List<String> cmd) {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().put("LC_ALL", "C");
        try {
            Process p = pb.start();
            p.getOutputStream().close();
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> slurp(p.getErrorStream()));
            String out = slurp(p.getInputStream());
            int code = p.waitFor();
            return new Object[] {out, err.join(), code};
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd.get(0) + " (install qemu-utils)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Runs {@code qemu-img args} or {@code qemu-io args} and fails unless it exits 0. */
    static void must(Path dir, String... cmd) {
        Object[] r = tool(dir, List.of(cmd));
        if ((int) r[2] != 0) {
            throw new AssertionError(String.join(" ", cmd) + " failed: " + r[1] + r[0]);
        }
    }

    /** The real {@code qemu-img check --output=json [extra] image}. */
    static Result qemu(Path dir, String image, String... extra) {
        List<String> cmd = new ArrayList<>(List.of("qemu-img", "check", "--output=json"));
        cmd.addAll(List.of(extra));
        cmd.add(image);
        Object[] r = tool(dir, cmd);
        return new Result((String) r[1], counters((String) r[0]), (int) r[2]);
    }

    /** Our check of {@code image}, reported as qemu-img check reports it. */
    static Result ours(String image) {
        StringBuilder err = new StringBuilder();
        CheckListener listener = new CheckListener() {
            @Override
            public void line(String text) {
                err.append(text).append('\n');
            }

            @Override
            public void error(String message) {
                err.append(PROGRAM).append(": ").append(message).append('\n');
            }

            @Override
            public void raw(String text) {
                err.append(text);
            }
        };
        CheckOutcome outcome;
        try {
            outcome = CheckOp.run(ImageSource.file(image, null), false, listener);
        } catch (StrataException e) {
            listener.error(e.getMessage());
            return new Result(err.toString(), Map.of(), 1);
        }
        Map<String, Long> counters = Map.of();
        if (outcome instanceof CheckOutcome.Unsupported) {
            listener.error("This image format does not support checks");
        } else if (outcome instanceof CheckOutcome.Aborted a) {
            listener.error("Check failed: " + a.reason());
        } else if (outcome instanceof CheckOutcome.Completed c) {
            counters = counters(c.report());
            if (c.report().checkErrors() > 0) {
                listener.error("Check failed");
            }
        }
        return new Result(err.toString(), counters, outcome.exitCode());
    }

    /** Asserts that our check of {@code image} reports exactly what qemu-img check reports. */
    static void assertSameAsQemu(Path image) {
        Result expected = qemu(image.getParent(), image.toString());
        Result actual = ours(image.toString());
        assertEquals(expected.stderr(), actual.stderr(), "stderr");
        assertEquals(expected.counters(), actual.counters(), "report");
        assertEquals(expected.exitCode(), actual.exitCode(), "exit code");
    }

    /** The numeric members of qemu's JSON report. */
    static Map<String, Long> counters(String json) {
        Map<String, Long> m = new LinkedHashMap<>();
        Matcher matcher = JSON_NUMBER.matcher(json);
        while (matcher.find()) {
            m.put(matcher.group(1), Long.parseLong(matcher.group(2)));
        }
        return m;
    }

    /** Our report's counters, keyed and filtered like qemu's JSON (members that are 0 are absent). */
    static Map<String, Long> counters(CheckReport r) {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("check-errors", r.checkErrors());
        putNonZero(m, "image-end-offset", r.imageEndOffset());
        putNonZero(m, "corruptions", r.corruptions());
        putNonZero(m, "leaks", r.leaks());
        putNonZero(m, "total-clusters", r.totalClusters());
        putNonZero(m, "allocated-clusters", r.allocatedClusters());
        putNonZero(m, "fragmented-clusters", r.fragmentedClusters());
        putNonZero(m, "compressed-clusters", r.compressedClusters());
        return m;
    }

    private static void putNonZero(Map<String, Long> m, String key, long value) {
        if (value != 0) {
            m.put(key, value);
        }
    }

    private static String slurp(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
