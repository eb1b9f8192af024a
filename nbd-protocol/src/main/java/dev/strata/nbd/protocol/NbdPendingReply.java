package dev.strata.nbd.protocol;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static dev.strata.nbd.protocol.NbdConstants.*;

/**
 * The client's record of one request in flight, fed with the replies for its cookie on the
 * event loop until the reply is complete.
 *
 * <p>Design note: the rules common to every command live here — a simple reply ends the
 * reply; a structured reply ends with the chunk flagged DONE; error chunks (including unknown
 * types with bit 15) make the request fail with the first error seen but do not end it early;
 * an unknown non-error chunk type is a protocol violation. Subclasses handle the content
 * chunks their command allows ({@link Read}: OFFSET_DATA/OFFSET_HOLE, {@link Status}:
 * BLOCK_STATUS, {@link Plain}: none) and produce the result.
 *
 * @param <T> what the blocking call returns
 */
abstract class NbdPendingReply<T> {
    final CompletableFuture<T> future = new CompletableFuture<>();
    final int command;
    private NbdCommandException error;

    NbdPendingReply(int command) {
        this.command = command;
    }

    /** Data bytes that follow a successful simple reply to this request. */
    long simpleReplyDataLength() {
        return 0;
    }

    /**
     * Takes one reply message (the caller releases it afterwards).
     *
     * @return true if the reply is now complete and {@link #future} has been completed
     * @throws NbdProtocolException if the server broke the protocol (the caller closes the connection)
     */
    final boolean accept(NbdReply reply) {
        if (reply instanceof NbdSimpleReply simple) {
            if (simple.error() != 0) {
                error = new NbdCommandException(command, simple.error(), "", -1);
            } else {
                onSimpleData(simple);
            }
            finish();
            return true;
        }
        NbdReplyChunk chunk = (NbdReplyChunk) reply;
        if (chunk instanceof NbdReplyChunk.Error e) {
            recordError(e.errno(), e.message(), -1);
        } else if (chunk instanceof NbdReplyChunk.ErrorOffset e) {
            recordError(e.errno(), e.message(), e.offset());
        } else if (chunk instanceof NbdReplyChunk.Unknown unknown) {
            if (!unknown.isError()) {
                throw new NbdProtocolException("unexpected chunk type " + chunkTypeName(unknown.type())
                        + " in reply to " + commandName(command));
            }
            byte[] payload = unknown.payload();
            int errno = payload.length >= 4 ? ByteBuffer.wrap(payload).getInt() : EIO;
            recordError(errno == 0 ? EIO : errno, "server sent error chunk type " + unknown.type(), -1);
        } else if (!(chunk instanceof NbdReplyChunk.None)) {
            onContent(chunk);
        }
        if (chunk.done()) {
            finish();
            return true;
        }
        return false;
    }

    /** Data of a successful simple reply (empty unless {@link #simpleReplyDataLength()} > 0). */
    void onSimpleData(NbdSimpleReply reply) {
    }

    /** A content chunk; the default rejects every type. */
    void onContent(NbdReplyChunk chunk) {
        throw new NbdProtocolException("unexpected " + chunkTypeName(chunk.type()) + " chunk in reply to "
                + commandName(command));
    }

    /** The result of a reply without error chunks. */
    abstract T result() throws NbdException;

    private void recordError(int errno, String message, long offset) {
        if (error == null) {
            error = new NbdCommandException(command, errno, message, offset);
        }
    }

    private void finish() {
        if (error != null) {
            future.completeExceptionally(error);
            return;
        }
        try {
            future.complete(result());
        } catch (NbdException e) {
            future.completeExceptionally(e);
        }
    }

    /** A request whose reply carries no content: WRITE, FLUSH, TRIM, WRITE_ZEROES, CACHE. */
    static final class Plain extends NbdPendingReply<Void> {
        Plain(int command) {
            super(command);
        }

        @Override
        Void result() {
            return null;
        }
    }

    /** A READ into a caller's buffer. */
    static final class Read extends NbdPendingReply<Void> {
        private final long offset;
        private final NbdReadAssembly assembly;

        /** Fills {@code target}'s remaining bytes from export offset {@code offset}. */
        Read(long offset, ByteBuffer target) {
            super(CMD_READ);
            this.offset = offset;
            this.assembly = new NbdReadAssembly(offset, target);
        }

        @Override
        long simpleReplyDataLength() {
            return assembly.length();
        }

        @Override
        void onSimpleData(NbdSimpleReply reply) {
            if (reply.data().readableBytes() != assembly.length()) {
                throw new NbdProtocolException("simple READ reply with " + reply.data().readableBytes() + " bytes");
            }
            if (assembly.length() > 0) {
                assembly.data(offset, reply.data());
            }
        }

        @Override
        void onContent(NbdReplyChunk chunk) {
            if (chunk instanceof NbdReplyChunk.OffsetData data) {
                assembly.data(data.offset(), data.data());
            } else if (chunk instanceof NbdReplyChunk.OffsetHole hole) {
                assembly.hole(hole.offset(), hole.holeSize());
            } else {
                super.onContent(chunk);
            }
        }

        @Override
        Void result() throws NbdException {
            if (!assembly.complete()) {
                throw new NbdException("server reported success for NBD_CMD_READ without sending all the data");
            }
            return null;
        }
    }

    /** A BLOCK_STATUS; the result maps context names to extents. */
    static final class Status extends NbdPendingReply<Map<String, List<NbdExtent>>> {
        private final Map<Integer, String> contexts;
        private final Map<Integer, List<NbdExtent>> byId = new LinkedHashMap<>();

        Status(Map<Integer, String> contexts) {
            super(CMD_BLOCK_STATUS);
            this.contexts = contexts;
        }

        @Override
        void onContent(NbdReplyChunk chunk) {
            if (!(chunk instanceof NbdReplyChunk.BlockStatus status)) {
                super.onContent(chunk);
                return;
            }
            if (!contexts.containsKey(status.contextId())) {
                throw new NbdProtocolException("block status for context id " + status.contextId()
                        + " which was never selected");
            }
            if (byId.putIfAbsent(status.contextId(), new ArrayList<>(status.extents())) != null) {
                throw new NbdProtocolException("two block status chunks for context " + contexts.get(status.contextId()));
            }
        }

        @Override
        Map<String, List<NbdExtent>> result() throws NbdException {
            Map<String, List<NbdExtent>> result = new LinkedHashMap<>();
            for (Map.Entry<Integer, String> context : contexts.entrySet()) {
                List<NbdExtent> extents = byId.get(context.getKey());
                if (extents == null) {
                    throw new NbdException("server sent no block status for context " + context.getValue());
                }
                result.put(context.getValue(), List.copyOf(extents));
            }
            return result;
        }
    }
}
