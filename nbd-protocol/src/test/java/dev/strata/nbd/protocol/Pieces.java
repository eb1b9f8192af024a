package dev.strata.nbd.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ReferenceCountUtil;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;

/**
 * Feeds bytes to a decoder in odd-sized pieces: whole, 1 byte at a time, 3-byte pieces, and
 * random splits, so decoders are proven not to assume a whole message per read.
 */
final class Pieces {
    private Pieces() {
    }

    /** A way to cut a byte array into successive piece sizes. */
    interface Split {
        int[] sizes(int total);
    }

    static Split whole() {
        return total -> new int[] {total};
    }

    static Split fixed(int size) {
        return total -> {
            int n = (total + size - 1) / size;
            int[] sizes = new int[n];
            for (int i = 0; i < n; i++) {
                sizes[i] = Math.min(size, total - i * size);
            }
            return sizes;
        };
    }

    static Split random(long seed) {
        return total -> {
            Random random = new Random(seed);
            List<Integer> sizes = new ArrayList<>();
            int left = total;
            while (left > 0) {
                int n = Math.min(left, 1 + random.nextInt(40));
                sizes.add(n);
                left -= n;
            }
            return sizes.stream().mapToInt(Integer::intValue).toArray();
        };
    }

    /** The splits every decoder test runs through. */
    static List<Split> all() {
        return List.of(whole(), fixed(1), fixed(3), fixed(7), random(1), random(2), random(3));
    }

    /** Writes {@code bytes} into {@code channel} cut by {@code split}. */
    static void feed(EmbeddedChannel channel, byte[] bytes, Split split) {
        int at = 0;
        for (int size : split.sizes(bytes.length)) {
            ByteBuf piece = Unpooled.buffer(size).writeBytes(bytes, at, size);
            channel.writeInbound(piece);
            at += size;
        }
    }

    /** Decodes {@code bytes} with a fresh decoder, fed by {@code split}; returns all inbound messages. */
    static List<Object> decode(Supplier<ChannelHandler> decoder, byte[] bytes, Split split) {
        EmbeddedChannel channel = new EmbeddedChannel(decoder.get());
        feed(channel, bytes, split);
        List<Object> out = drain(channel);
        channel.finishAndReleaseAll();
        return out;
    }

    static List<Object> drain(EmbeddedChannel channel) {
        List<Object> out = new ArrayList<>();
        Object msg;
        while ((msg = channel.readInbound()) != null) {
            out.add(msg);
        }
        return out;
    }

    /** Bytes of an outbound ByteBuf, released. */
    static byte[] bytes(Object msg) {
        ByteBuf buf = (ByteBuf) msg;
        try {
            byte[] b = new byte[buf.readableBytes()];
            buf.getBytes(buf.readerIndex(), b);
            return b;
        } finally {
            ReferenceCountUtil.release(buf);
        }
    }

    /** All outbound ByteBufs of a channel concatenated (each released). */
    static byte[] outbound(EmbeddedChannel channel) {
        ByteBuf all = Unpooled.buffer();
        Object msg;
        while ((msg = channel.readOutbound()) != null) {
            all.writeBytes(bytes(msg));
        }
        byte[] b = new byte[all.readableBytes()];
        all.readBytes(b);
        return b;
    }

    static void releaseAll(List<Object> messages) {
        messages.forEach(ReferenceCountUtil::release);
    }
}
