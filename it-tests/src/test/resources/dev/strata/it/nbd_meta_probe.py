# A raw NBD client for comparing servers' metadata contexts byte for byte (DirtyBitmapNbdTest).
# Usage: python3 nbd_meta_probe.py SOCKET PLAN_JSON
# PLAN: {"export": NAME, "list": [[queries...], ...], "set": [queries...],
#        "status": [[offset, length, flags], ...]}
# Prints every reply as the server sent it: option replies (type, context id, name or error
# text) and, after GO, each block-status chunk (reply type, flags, context id, extents).
import json, socket, struct, sys

MAGIC_OPTS = 0x49484156454F5054
REPLY_MAGIC = 0x3e889045565a9
OPT_GO, OPT_STRUCTURED, OPT_LIST_META, OPT_SET_META = 7, 8, 9, 10

sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(sys.argv[1])
plan = json.loads(sys.argv[2])

def recv(n):
    b = b""
    while len(b) < n:
        c = sock.recv(n - len(b))
        if not c:
            raise SystemExit("server closed the connection")
        b += c
    return b

def option(code, data):
    sock.sendall(struct.pack(">QII", MAGIC_OPTS, code, len(data)) + data)
    out = []
    while True:
        magic, opt, rtype, length = struct.unpack(">QIII", recv(20))
        body = recv(length)
        if rtype == 4:  # NBD_REP_META_CONTEXT
            out.append("meta-context id=%d %s" % (struct.unpack(">I", body[:4])[0], body[4:].decode()))
        elif rtype & 0x80000000:
            out.append("error 0x%x %s" % (rtype, body.decode(errors="replace")))
            return out
        elif rtype == 1:  # ACK
            out.append("ack")
            return out
        else:
            out.append("reply type %d length %d" % (rtype, length))
            if opt == OPT_GO and rtype == 3:
                continue

def meta_data(queries):
    name = plan["export"].encode()
    d = struct.pack(">I", len(name)) + name + struct.pack(">I", len(queries))
    for q in queries:
        q = q.encode()
        d += struct.pack(">I", len(q)) + q
    return d

recv(18)
sock.sendall(struct.pack(">I", 3))  # fixed newstyle, no zeroes
print("structured:", option(OPT_STRUCTURED, b""))
for queries in plan.get("list", []):
    print("list", queries, option(OPT_LIST_META, meta_data(queries)))
print("set", plan["set"], option(OPT_SET_META, meta_data(plan["set"])))
name = plan["export"].encode()
go = option(OPT_GO, struct.pack(">I", len(name)) + name + struct.pack(">H", 0))
print("go", [g for g in go if not g.startswith("reply type 3")])
cookie = 0
for off, length, flags in plan.get("status", []):
    cookie += 1
    sock.sendall(struct.pack(">IHHQQI", 0x25609513, flags, 7, cookie, off, length))
    print("block-status offset=%d length=%d flags=%d" % (off, length, flags))
    while True:
        magic = struct.unpack(">I", recv(4))[0]
        if magic == 0x67446698:  # simple reply
            err, ck = struct.unpack(">IQ", recv(12))
            print("  simple error=%d" % err)
            break
        cflags, ctype, ck, length = struct.unpack(">HHQI", recv(16))
        body = recv(length)
        if ctype == 5:
            ctx = struct.unpack(">I", body[:4])[0]
            ext = [struct.unpack(">II", body[i:i + 8]) for i in range(4, len(body), 8)]
            print("  chunk flags=%d context=%d extents=%s" % (cflags, ctx, ext))
        else:
            err, mlen = struct.unpack(">IH", body[:6])
            print("  chunk flags=%d type=0x%x error=%d" % (cflags, ctype, err))
        if cflags & 1:
            break
sock.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 2, 0, 0, 0))
sock.close()
