#!/usr/bin/env python3
"""rawclient.py: speaks ray-node's wire protocol by hand, to send it what
no libray client would (docs/design.md, "Wire protocol").

    rawclient.py CASE

connects to $RAY_ADDRESS (HOST:PORT) with the token in $RAY_TOKEN_FILE,
plays CASE, prints one line saying what happened and exits 0 when the
daemon behaved as it must, 1 when it did not.  Cases:

  garbage        unauthenticated: random bytes instead of the handshake;
                 must be dropped
  flood          unauthenticated: a frame header announcing 4 GiB, then
                 1 MiB of payload; must be dropped without buffering it
  stall          unauthenticated: a 16-byte header, then silence; must be
                 dropped by the 2 s handshake deadline
  truncated      authenticated: half a frame, then hang up
  half-frame     authenticated: half a frame, kept open while a second
                 connection is served
  oversized      authenticated: a header over the 4 MiB JSON limit gets an
                 error reply (code -2) before any body is sent; the body is
                 read past and the connection serves the next request
  huge-data      authenticated: a header over the 256 MiB data limit gets
                 an error reply (code -2)
  tiny-json      authenticated: json_len 1
  bad-json       authenticated: a body that is not JSON; must be dropped
  no-op          authenticated: a JSON object without "op"; must be dropped
  unknown-op     authenticated: {"op":"nope"} gets an error reply (code -2)
                 and the connection still serves a status request
  hold N SRC FILE  unauthenticated: opens N connections from address SRC
                 and keeps them open, touches FILE once they are all
                 open, then sleeps until killed
  many-sizes     authenticated: a put of two million empty objects gets
                 an error reply (code -2) at once and stores nothing
  many-packed    the same with packed lists, and packed lists with bad
                 words: each gets an error reply (code -2), nothing stored
  badauth N      unauthenticated: N connections one after the other, each
                 with a wrong MAC
"""
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time

MAGIC = b"RAYTOOL1"
NONCE = 32
MAC = 32
HDR = struct.Struct(">IIII")


def address():
    addr = os.environ["RAY_ADDRESS"]
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def key():
    with open(os.environ["RAY_TOKEN_FILE"], "rb") as f:
        tok = f.read(4096).rstrip(b"\n\r ")
    return hashlib.blake2b(tok, digest_size=32).digest()


def mac(k, role, transcript):
    # crypto_auth: HMAC-SHA-512 truncated to 256 bits, over the role and
    # Ns Nc Ps Pc F M (docs/protocol.md).
    return hmac.new(k, role + transcript, hashlib.sha512).digest()[:MAC]


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def connect(timeout=10.0):
    s = socket.create_connection(address(), timeout=timeout)
    s.settimeout(timeout)
    hello = recv_exact(s, len(MAGIC) + NONCE + 32 + 1)
    if hello[: len(MAGIC)] != MAGIC:
        raise SystemExit("no RAYTOOL1 magic from the node")
    return s, hello[len(MAGIC):]


def read_frame(s):
    jl, dl, rid, _ = HDR.unpack(recv_exact(s, HDR.size))
    body = recv_exact(s, jl)
    recv_exact(s, dl)
    return rid, json.loads(body)


def authed():
    s, greeting = connect()
    ns, ps, flags = greeting[:NONCE], greeting[NONCE:NONCE + 32], greeting[NONCE + 32:]
    if flags[0] & 1:
        raise SystemExit("the node requires an encrypted transport: run it with --transport plain")
    k = key()
    nc = os.urandom(NONCE)
    pc = bytes(32)      # plain: no key exchange
    t = ns + nc + ps + pc + flags + b"\0"
    s.sendall(nc + pc + b"\0" + mac(k, b"C", t))
    smac = recv_exact(s, MAC)
    if not hmac.compare_digest(smac, mac(k, b"S", t)):
        raise SystemExit("the node's MAC does not check out")
    read_frame(s)  # the hello
    return s


def frame(obj_or_bytes, req_id=1, data=b""):
    body = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes).encode()
    return HDR.pack(len(body), len(data), req_id, 0) + body + data


def dropped(s, limit):
    """True when the node closes s within limit seconds (reading anything
    it still sends)."""
    s.settimeout(limit)
    end = time.monotonic() + limit
    try:
        while time.monotonic() < end:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def send_quietly(s, data):
    try:
        s.sendall(data)
    except (ConnectionResetError, BrokenPipeError):
        pass


def status_ok(s, req_id):
    s.sendall(frame({"op": "status", "what": "nodes"}, req_id))
    rid, rep = read_frame(s)
    return rid == req_id and rep.get("ok") is True and len(rep.get("items", [])) == 1


def verdict(ok, what):
    print(("ok: " if ok else "FAILED: ") + what)
    return 0 if ok else 1


def main(case, *args):
    if case == "hold":
        import resource
        n, src, ready = int(args[0]), args[1], args[2]
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        held = []
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((src, 0))
            s.connect(address())
            held.append(s)
        open(ready, "w").close()
        time.sleep(600)
        return 0
    if case == "many-sizes":
        s = authed()
        t0 = time.monotonic()
        s.sendall(frame(b'{"op":"put","sizes":[' + b",".join([b"0"] * 2000000) + b"]}", 5))
        rid, rep = read_frame(s)
        took = time.monotonic() - t0
        ok = rid == 5 and rep.get("ok") is False and rep.get("code") == -2 and status_ok(s, 6)
        return verdict(ok, "2,000,000 sizes: %s in %.2f s" % (rep, took))
    if case == "many-packed":
        # The same as packed lists (one string of words): refused alike,
        # and a packed list with a bad word is refused, storing nothing.
        s = authed()
        s.sendall(frame(b'{"op":"put","sizes":"' + b" ".join([b"0"] * 2000000) + b'"}', 5))
        rid, rep = read_frame(s)
        ok = rid == 5 and rep.get("ok") is False and rep.get("code") == -2
        s.sendall(frame(b'{"op":"get","refs":"' + b" ".join([b"ab"] * 70000) + b'"}', 6))
        rid, rep2 = read_frame(s)
        ok = ok and rid == 6 and rep2.get("ok") is False and rep2.get("code") == -2
        bad = [b"1 -1", b"1 x", b"18446744073709551616", b"1e2", b"3", b"1"]
        for i, b in enumerate(bad):
            s.sendall(frame(b'{"op":"put","sizes":"' + b + b'"}', 10 + i, b"ab"))
            rid, rep3 = read_frame(s)
            ok = ok and rid == 10 + i and rep3.get("ok") is False and rep3.get("code") == -2
        s.sendall(frame(b'{"op":"get","refs":"zz"}', 20))
        rid, rep4 = read_frame(s)
        ok = ok and rid == 20 and rep4.get("ok") is False and rep4.get("code") == -2
        return verdict(ok and status_ok(s, 21), "packed: %s %s %s" % (rep, rep2, rep4))
    if case == "badauth":
        for _ in range(int(args[0])):
            s, _ = connect()
            send_quietly(s, os.urandom(NONCE + 32 + 1 + MAC))
            dropped(s, 3)
            s.close()
        return verdict(True, "%s bad handshakes sent" % args[0])
    if case == "garbage":
        s, _ = connect()
        send_quietly(s, os.urandom(NONCE + 32 + 1 + MAC))
        return verdict(dropped(s, 3), "a bad handshake is dropped")
    if case == "flood":
        s, _ = connect()
        send_quietly(s, HDR.pack(0xFFFFFFFF, 0xFFFFFFFF, 1, 0))
        t0 = time.monotonic()
        sent = 0
        try:
            s.settimeout(5)
            while sent < (1 << 20):
                sent += s.send(os.urandom(65536))
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass
        return verdict(dropped(s, 3) and time.monotonic() - t0 < 4,
                       "an unauthenticated oversized header is dropped (%d bytes sent)" % sent)
    if case == "stall":
        s, _ = connect()
        send_quietly(s, HDR.pack(0xFFFFFFFF, 0, 1, 0))
        t0 = time.monotonic()
        ok = dropped(s, 9)
        took = time.monotonic() - t0
        return verdict(ok and 1 < took < 5, "a stalled handshake is dropped after %.1f s" % took)
    if case == "truncated":
        s = authed()
        s.sendall(HDR.pack(100, 0, 1, 0) + b'{"op":"sta')
        s.close()
        return verdict(True, "sent a truncated frame and hung up")
    if case == "half-frame":
        a = authed()
        a.sendall(HDR.pack(100, 10, 1, 0) + b'{"op":"sta')
        b = authed()
        ok = status_ok(b, 7)
        a.close()
        b.close()
        return verdict(ok, "another client is served while a frame is half sent")
    if case == "oversized":
        s = authed()
        s.sendall(HDR.pack((4 << 20) + 1, 0, 1, 0))
        rid, rep = read_frame(s)
        ok = rid == 1 and rep.get("ok") is False and rep.get("code") == -2
        s.sendall(b"x" * ((4 << 20) + 1))
        ok = ok and status_ok(s, 2)
        return verdict(ok, "a JSON length over 4 MiB gets an error, then the next request an answer: %s" % rep)
    if case == "huge-data":
        s = authed()
        s.sendall(HDR.pack(20, (256 << 20) + 1, 1, 0))
        rid, rep = read_frame(s)
        ok = rid == 1 and rep.get("ok") is False and rep.get("code") == -2
        return verdict(ok, "a data length over 256 MiB gets an error: %s" % rep)
    if case == "tiny-json":
        s = authed()
        s.sendall(HDR.pack(1, 0, 1, 0) + b"{")
        return verdict(dropped(s, 3), "a 1-byte JSON body is dropped")
    if case == "bad-json":
        s = authed()
        s.sendall(frame(b"{this is not json", 1))
        return verdict(dropped(s, 3), "a body that is not JSON is dropped")
    if case == "no-op":
        s = authed()
        s.sendall(frame({"what": "nodes"}, 1))
        return verdict(dropped(s, 3), "a request without op is dropped")
    if case == "unknown-op":
        s = authed()
        s.sendall(frame({"op": "nope"}, 3))
        rid, rep = read_frame(s)
        ok = rid == 3 and rep.get("ok") is False and rep.get("code") == -2
        ok = ok and status_ok(s, 4)
        return verdict(ok, "an unknown op gets an error and the connection lives: %s" % rep)
    raise SystemExit("unknown case '%s'" % case)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
