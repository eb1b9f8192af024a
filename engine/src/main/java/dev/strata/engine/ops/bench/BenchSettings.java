package dev.strata.engine.ops.bench;

/**
 * One {@code qemu-img bench} run, after option parsing.
 *
 * @param count         number of requests ({@code -c})
 * @param depth         requests in flight at once ({@code -d})
 * @param offset        guest offset of the first request ({@code -o})
 * @param bufferSize    bytes per request ({@code -s})
 * @param step          distance between the starts of consecutive requests ({@code -S}, or
 *                      bufferSize when 0 was given); offsets wrap modulo the image size
 * @param write         write the pattern ({@code -w}) instead of reading
 * @param pattern       the byte written ({@code --pattern}), 0..255
 * @param flushInterval flush every this many requests ({@code --flush-interval}), 0 for never
 * @param drainOnFlush  wait for the requests in flight before each flush (false: {@code --no-drain})
 */
public record BenchSettings(int count, int depth, long offset, int bufferSize, int step, boolean write, int pattern,
                            int flushInterval, boolean drainOnFlush) {
}
