package dev.strata.nbd.protocol;

/**
 * Numbers of the NBD wire protocol (NetworkBlockDevice/nbd doc/proto.md), in one place.
 *
 * <p>Design note: plain {@code int}/{@code long} constants rather than enums, because every
 * field on the wire is an open set: a peer may send an option, command, flag or reply type
 * this code has never heard of, and the decoders must carry it through unchanged so that the
 * daemon (or the client) can answer it the way the spec demands ({@code NBD_REP_ERR_UNSUP},
 * {@code NBD_EINVAL}, hard disconnect...). The {@code *Name} methods give the spec's names
 * for logs and error messages. Unsigned 32-bit fields are held in Java {@code int}s; use
 * {@link Integer#toUnsignedLong(int)} where the value is a length.
 */
public final class NbdConstants {
    private NbdConstants() {
    }

    // ---- magic numbers -------------------------------------------------------------------

    /** {@code NBDMAGIC}: first 8 bytes the server sends (also {@code INIT_PASSWD}). */
    public static final long NBDMAGIC = 0x4e42444d41474943L;
    /** {@code IHAVEOPT}: second server magic in newstyle, and the magic of every client option. */
    public static final long IHAVEOPT = 0x49484156454F5054L;
    /** Second magic of the (unsupported) oldstyle negotiation. */
    public static final long OLDSTYLE_MAGIC = 0x00420281861253L;
    /** Magic of every fixed-newstyle option reply. */
    public static final long OPTION_REPLY_MAGIC = 0x3e889045565a9L;
    /** {@code NBD_REQUEST_MAGIC}, compact (28-byte) request header. */
    public static final int REQUEST_MAGIC = 0x25609513;
    /** {@code NBD_EXTENDED_REQUEST_MAGIC}; only valid after extended headers, which Strata never negotiates. */
    public static final int EXTENDED_REQUEST_MAGIC = 0x21e41c71;
    /** {@code NBD_SIMPLE_REPLY_MAGIC}. */
    public static final int SIMPLE_REPLY_MAGIC = 0x67446698;
    /** {@code NBD_STRUCTURED_REPLY_MAGIC}. */
    public static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
    /** {@code NBD_EXTENDED_REPLY_MAGIC}; never valid here (extended headers not negotiated). */
    public static final int EXTENDED_REPLY_MAGIC = 0x6e8a278c;

    /** IANA port for NBD. */
    public static final int DEFAULT_PORT = 10809;
    /** Hard limit on any NBD string (export names, queries, messages), in UTF-8 bytes. */
    public static final int MAX_STRING_LENGTH = 4096;
    /** Payload size every server must accept and every client may send (2^25). */
    public static final int DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;
    /** Bytes of zero padding after the {@code NBD_OPT_EXPORT_NAME} reply without NO_ZEROES. */
    public static final int EXPORT_NAME_REPLY_PADDING = 124;

    // ---- handshake flags (16 bits, server) --------------------------------------------------

    public static final int FLAG_FIXED_NEWSTYLE = 1;
    public static final int FLAG_NO_ZEROES = 1 << 1;

    // ---- client flags (32 bits) -------------------------------------------------------------

    public static final int FLAG_C_FIXED_NEWSTYLE = 1;
    public static final int FLAG_C_NO_ZEROES = 1 << 1;

    // ---- transmission flags (16 bits) -------------------------------------------------------

    public static final int FLAG_HAS_FLAGS = 1;
    public static final int FLAG_READ_ONLY = 1 << 1;
    public static final int FLAG_SEND_FLUSH = 1 << 2;
    public static final int FLAG_SEND_FUA = 1 << 3;
    public static final int FLAG_ROTATIONAL = 1 << 4;
    public static final int FLAG_SEND_TRIM = 1 << 5;
    public static final int FLAG_SEND_WRITE_ZEROES = 1 << 6;
    public static final int FLAG_SEND_DF = 1 << 7;
    public static final int FLAG_CAN_MULTI_CONN = 1 << 8;
    public static final int FLAG_SEND_RESIZE = 1 << 9;
    public static final int FLAG_SEND_CACHE = 1 << 10;
    public static final int FLAG_SEND_FAST_ZERO = 1 << 11;
    public static final int FLAG_BLOCK_STATUS_PAYLOAD = 1 << 12;

    // ---- options ------------------------------------------------------------------------------

    public static final int OPT_EXPORT_NAME = 1;
    public static final int OPT_ABORT = 2;
    public static final int OPT_LIST = 3;
    public static final int OPT_PEEK_EXPORT = 4;
    public static final int OPT_STARTTLS = 5;
    public static final int OPT_INFO = 6;
    public static final int OPT_GO = 7;
    public static final int OPT_STRUCTURED_REPLY = 8;
    public static final int OPT_LIST_META_CONTEXT = 9;
    public static final int OPT_SET_META_CONTEXT = 10;
    public static final int OPT_EXTENDED_HEADERS = 11;

    // ---- option reply types (32 bits; errors have bit 31 set) -------------------------------

    public static final int REP_ACK = 1;
    public static final int REP_SERVER = 2;
    public static final int REP_INFO = 3;
    public static final int REP_META_CONTEXT = 4;
    /** Bit 31: every error reply type has it. */
    public static final int REP_FLAG_ERROR = 1 << 31;
    public static final int REP_ERR_UNSUP = REP_FLAG_ERROR | 1;
    public static final int REP_ERR_POLICY = REP_FLAG_ERROR | 2;
    public static final int REP_ERR_INVALID = REP_FLAG_ERROR | 3;
    public static final int REP_ERR_PLATFORM = REP_FLAG_ERROR | 4;
    public static final int REP_ERR_TLS_REQD = REP_FLAG_ERROR | 5;
    public static final int REP_ERR_UNKNOWN = REP_FLAG_ERROR | 6;
    public static final int REP_ERR_SHUTDOWN = REP_FLAG_ERROR | 7;
    public static final int REP_ERR_BLOCK_SIZE_REQD = REP_FLAG_ERROR | 8;
    public static final int REP_ERR_TOO_BIG = REP_FLAG_ERROR | 9;
    public static final int REP_ERR_EXT_HEADER_REQD = REP_FLAG_ERROR | 10;

    // ---- NBD_REP_INFO types (16 bits) --------------------------------------------------------

    public static final int INFO_EXPORT = 0;
    public static final int INFO_NAME = 1;
    public static final int INFO_DESCRIPTION = 2;
    public static final int INFO_BLOCK_SIZE = 3;

    // ---- commands (16 bits) ------------------------------------------------------------------

    public static final int CMD_READ = 0;
    public static final int CMD_WRITE = 1;
    public static final int CMD_DISC = 2;
    public static final int CMD_FLUSH = 3;
    public static final int CMD_TRIM = 4;
    public static final int CMD_CACHE = 5;
    public static final int CMD_WRITE_ZEROES = 6;
    public static final int CMD_BLOCK_STATUS = 7;
    public static final int CMD_RESIZE = 8;

    // ---- command flags (16 bits) -------------------------------------------------------------

    public static final int CMD_FLAG_FUA = 1;
    public static final int CMD_FLAG_NO_HOLE = 1 << 1;
    public static final int CMD_FLAG_DF = 1 << 2;
    public static final int CMD_FLAG_REQ_ONE = 1 << 3;
    public static final int CMD_FLAG_FAST_ZERO = 1 << 4;
    public static final int CMD_FLAG_PAYLOAD_LEN = 1 << 5;

    // ---- structured replies ------------------------------------------------------------------

    /** Structured reply flag: this chunk is the last of its reply. */
    public static final int REPLY_FLAG_DONE = 1;
    public static final int REPLY_TYPE_NONE = 0;
    public static final int REPLY_TYPE_OFFSET_DATA = 1;
    public static final int REPLY_TYPE_OFFSET_HOLE = 2;
    public static final int REPLY_TYPE_BLOCK_STATUS = 5;
    public static final int REPLY_TYPE_BLOCK_STATUS_EXT = 6;
    /** Bit 15: every error chunk type has it. */
    public static final int REPLY_TYPE_FLAG_ERROR = 1 << 15;
    public static final int REPLY_TYPE_ERROR = REPLY_TYPE_FLAG_ERROR | 1;
    public static final int REPLY_TYPE_ERROR_OFFSET = REPLY_TYPE_FLAG_ERROR | 2;

    // ---- error numbers (see also NbdErrno) -------------------------------------------------

    public static final int EPERM = 1;
    public static final int EIO = 5;
    public static final int ENOMEM = 12;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EOVERFLOW = 75;
    public static final int ENOTSUP = 95;
    public static final int ESHUTDOWN = 108;

    // ---- metadata contexts -----------------------------------------------------------------

    public static final String CONTEXT_BASE_ALLOCATION = "base:allocation";
    /** QEMU: the whole 32-bit status is the backing-chain depth (0 unallocated, 1 top layer...). */
    public static final String CONTEXT_QEMU_ALLOCATION_DEPTH = "qemu:allocation-depth";
    /** QEMU: prefix of {@code qemu:dirty-bitmap:<name>}; status bit 0 is {@link #STATE_DIRTY}. */
    public static final String CONTEXT_QEMU_DIRTY_BITMAP_PREFIX = "qemu:dirty-bitmap:";
    /** {@code base:allocation}: not allocated in the backing store. */
    public static final int STATE_HOLE = 1;
    /** {@code base:allocation}: reads as zeroes. */
    public static final int STATE_ZERO = 1 << 1;
    /** {@code qemu:dirty-bitmap:*}: the extent is dirty. */
    public static final int STATE_DIRTY = 1;

    // ---- names ---------------------------------------------------------------------------------

    /** The spec's name of an option code, e.g. {@code NBD_OPT_GO}, or {@code NBD_OPT_<n>}. */
    public static String optionName(int option) {
        return switch (option) {
            case OPT_EXPORT_NAME -> "NBD_OPT_EXPORT_NAME";
            case OPT_ABORT -> "NBD_OPT_ABORT";
            case OPT_LIST -> "NBD_OPT_LIST";
            case OPT_PEEK_EXPORT -> "NBD_OPT_PEEK_EXPORT";
            case OPT_STARTTLS -> "NBD_OPT_STARTTLS";
            case OPT_INFO -> "NBD_OPT_INFO";
            case OPT_GO -> "NBD_OPT_GO";
            case OPT_STRUCTURED_REPLY -> "NBD_OPT_STRUCTURED_REPLY";
            case OPT_LIST_META_CONTEXT -> "NBD_OPT_LIST_META_CONTEXT";
            case OPT_SET_META_CONTEXT -> "NBD_OPT_SET_META_CONTEXT";
            case OPT_EXTENDED_HEADERS -> "NBD_OPT_EXTENDED_HEADERS";
            default -> "NBD_OPT_" + Integer.toUnsignedString(option);
        };
    }

    /** The spec's name of an option reply type, e.g. {@code NBD_REP_ERR_UNSUP}. */
    public static String replyTypeName(int type) {
        return switch (type) {
            case REP_ACK -> "NBD_REP_ACK";
            case REP_SERVER -> "NBD_REP_SERVER";
            case REP_INFO -> "NBD_REP_INFO";
            case REP_META_CONTEXT -> "NBD_REP_META_CONTEXT";
            case REP_ERR_UNSUP -> "NBD_REP_ERR_UNSUP";
            case REP_ERR_POLICY -> "NBD_REP_ERR_POLICY";
            case REP_ERR_INVALID -> "NBD_REP_ERR_INVALID";
            case REP_ERR_PLATFORM -> "NBD_REP_ERR_PLATFORM";
            case REP_ERR_TLS_REQD -> "NBD_REP_ERR_TLS_REQD";
            case REP_ERR_UNKNOWN -> "NBD_REP_ERR_UNKNOWN";
            case REP_ERR_SHUTDOWN -> "NBD_REP_ERR_SHUTDOWN";
            case REP_ERR_BLOCK_SIZE_REQD -> "NBD_REP_ERR_BLOCK_SIZE_REQD";
            case REP_ERR_TOO_BIG -> "NBD_REP_ERR_TOO_BIG";
            case REP_ERR_EXT_HEADER_REQD -> "NBD_REP_ERR_EXT_HEADER_REQD";
            default -> "NBD_REP_" + Integer.toHexString(type);
        };
    }

    /** The spec's name of a command, e.g. {@code NBD_CMD_READ}. */
    public static String commandName(int command) {
        return switch (command) {
            case CMD_READ -> "NBD_CMD_READ";
            case CMD_WRITE -> "NBD_CMD_WRITE";
            case CMD_DISC -> "NBD_CMD_DISC";
            case CMD_FLUSH -> "NBD_CMD_FLUSH";
            case CMD_TRIM -> "NBD_CMD_TRIM";
            case CMD_CACHE -> "NBD_CMD_CACHE";
            case CMD_WRITE_ZEROES -> "NBD_CMD_WRITE_ZEROES";
            case CMD_BLOCK_STATUS -> "NBD_CMD_BLOCK_STATUS";
            case CMD_RESIZE -> "NBD_CMD_RESIZE";
            default -> "NBD_CMD_" + command;
        };
    }

    /** The spec's name of a structured reply chunk type, e.g. {@code NBD_REPLY_TYPE_OFFSET_DATA}. */
    public static String chunkTypeName(int type) {
        return switch (type) {
            case REPLY_TYPE_NONE -> "NBD_REPLY_TYPE_NONE";
            case REPLY_TYPE_OFFSET_DATA -> "NBD_REPLY_TYPE_OFFSET_DATA";
            case REPLY_TYPE_OFFSET_HOLE -> "NBD_REPLY_TYPE_OFFSET_HOLE";
            case REPLY_TYPE_BLOCK_STATUS -> "NBD_REPLY_TYPE_BLOCK_STATUS";
            case REPLY_TYPE_BLOCK_STATUS_EXT -> "NBD_REPLY_TYPE_BLOCK_STATUS_EXT";
            case REPLY_TYPE_ERROR -> "NBD_REPLY_TYPE_ERROR";
            case REPLY_TYPE_ERROR_OFFSET -> "NBD_REPLY_TYPE_ERROR_OFFSET";
            default -> "NBD_REPLY_TYPE_" + type;
        };
    }

    /** True for option reply types with bit 31 set. */
    public static boolean isErrorReplyType(int type) {
        return (type & REP_FLAG_ERROR) != 0;
    }

    /** True for structured chunk types with bit 15 set. */
    public static boolean isErrorChunkType(int type) {
        return (type & REPLY_TYPE_FLAG_ERROR) != 0;
    }
}
