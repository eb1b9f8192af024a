# Bad-input cases against stratad, run by nbdsh (Debian's python3-libnbd) from NbdBadInputTest.
# libnbd in non-strict mode sends what a careless client would; raw sockets do what libnbd
# never does (unknown commands, bad magic, oversized options, stalling). Each case prints one
# "name: outcome" line; the Java test compares them. Socket timeouts keep every wait bounded.
import os, socket, struct, nbd

SOCK = os.environ["SOCK"]
URL = "nbd+unix:///?socket=" + SOCK
IHAVEOPT = 0x49484156454F5054
REQ_MAGIC = 0x25609513

def report(name, outcome):
    print("%s: %s" % (name, outcome), flush=True)

def libnbd_errno(fn):
    try:
        fn()
        return "ok"
    except nbd.Error as e:
        return str(e.errno)

def client(structured=True):
    h = nbd.NBD()
    h.set_strict_mode(0)
    h.set_request_structured_replies(structured)
    h.connect_uri(URL)
    return h

# --- libnbd, non-strict ---------------------------------------------------------------
h = client()
size = h.get_size()
report("read past end", libnbd_errno(lambda: h.pread(512, size - 256)))
report("read at end", libnbd_errno(lambda: h.pread(1, size)))
report("oversized read", libnbd_errno(lambda: h.pread(32 * 1024 * 1024 + 1, 0)))
report("oversized read DF", libnbd_errno(lambda: h.pread_structured(32 * 1024 * 1024 + 1, 0, lambda *a: 0, nbd.CMD_FLAG_DF)))
report("write on read-only", libnbd_errno(lambda: h.pwrite(b"x" * 512, 0)))
report("write zeroes on read-only", libnbd_errno(lambda: h.zero(512, 0)))
report("trim on read-only", libnbd_errno(lambda: h.trim(512, 0)))
report("block status past end", libnbd_errno(lambda: h.block_status(512, size - 256, lambda *a: 0)))
report("still serving", "ok" if len(h.pread(4096, 0)) == 4096 else "bad")
def chunk_kinds(flags):
    kinds = []
    def cb(buf, offset, status, error):
        kinds.append("data" if status == nbd.READ_DATA else "hole" if status == nbd.READ_HOLE else str(status))
        return 0
    h.pread_structured(1024 * 1024, 1024 * 1024, cb, flags)
    return " ".join(kinds)
report("structured read over data and hole", chunk_kinds(0))
report("structured read with DF", chunk_kinds(nbd.CMD_FLAG_DF))
h.shutdown()

h = client(structured=False)
data = h.pread(1024 * 1024, 0)
report("simple reply read", "ok" if data[:1] == b"\xab" and len(data) == 1024 * 1024 else "bad")
report("simple reply past end", libnbd_errno(lambda: h.pread(512, size)))
h.shutdown()

# --- raw sockets ----------------------------------------------------------------------
def raw():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(SOCK)
    greeting = recv_exact(s, 18)
    assert greeting[:16] == struct.pack(">QQ", 0x4e42444d41474943, IHAVEOPT)
    s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
    return s

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        part = s.recv(n - len(b))
        if not part:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += part
    return b

def option(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)

def option_reply(s):
    magic, opt, typ, length = struct.unpack(">QIII", recv_exact(s, 20))
    return opt, typ, recv_exact(s, length)

def closed(s):
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True

def go(s):
    option(s, 7, struct.pack(">I", 0) + struct.pack(">H", 0))
    while True:
        _, typ, _ = option_reply(s)
        if typ == 1:
            return

# unknown option: ERR_UNSUP, session goes on
s = raw()
option(s, 99, b"abc")
report("unknown option", hex(option_reply(s)[1]))
option(s, 5)
report("starttls", hex(option_reply(s)[1]))
# an option longer than the limit: ERR_TOO_BIG once its data has streamed past
big = 1024 * 1024
s.sendall(struct.pack(">QII", IHAVEOPT, 3, big))
chunk = b"\0" * 65536
for _ in range(big // len(chunk)):
    s.sendall(chunk)
report("too-long option", hex(option_reply(s)[1]))
option(s, 3)
names = 0
while True:
    _, typ, _ = option_reply(s)
    if typ != 2:
        break
    names += 1
report("list after refusals", "%d exports" % names)
option(s, 2)
report("abort", hex(option_reply(s)[1]) + (" closed" if closed(s) else " open"))
s.close()

# bad option magic: hard disconnect
s = raw()
s.sendall(struct.pack(">QII", 0x1122334455667788, 3, 0))
report("bad option magic", "closed" if closed(s) else "open")
s.close()

# transmission: unknown command is EINVAL and the connection stays; bad magic closes
s = raw()
go(s)
s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, 99, 7, 0, 512))
magic, err, cookie = struct.unpack(">IIQ", recv_exact(s, 16))
report("unknown command", "error %d cookie %d" % (err, cookie))
s.sendall(struct.pack(">IHHQQI", REQ_MAGIC, 0, 0, 8, 0, 16))
magic, err, cookie = struct.unpack(">IIQ", recv_exact(s, 16))
report("read after unknown command", "error %d cookie %d data %d" % (err, cookie, len(recv_exact(s, 16))))
s.sendall(struct.pack(">IHHQQI", 0xdeadbeef, 0, 0, 9, 0, 16))
report("bad request magic", "closed" if closed(s) else "open")
s.close()

# a client that never finishes the handshake is dropped; meanwhile others are served
stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
stalled.settimeout(30)
stalled.connect(SOCK)
recv_exact(stalled, 18)
h = client()
report("served while another stalls", "ok" if len(h.pread(512, 0)) == 512 else "bad")
h.shutdown()
report("stalled handshake", "closed" if closed(stalled) else "open")
stalled.close()

h = client()
report("still serving at the end", "ok" if h.pread(1, 0) == b"\xab" else "bad")
h.shutdown()
