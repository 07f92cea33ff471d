#!/usr/bin/env python3
"""fliprelay.py: a TCP relay that alters one byte in flight, to show that an
encrypted link refuses what was changed on the way.

    fliprelay.py TARGET_HOST:PORT DIRECTION OFFSET PORTFILE

listens on 127.0.0.1 (a free port, written to PORTFILE once listening),
relays one connection to TARGET, and flips the low bit of byte OFFSET
(counted from the start) of the stream going DIRECTION: "down" (node to
client) or "up" (client to node).  Exits when that connection ends, or
after 60 s."""
import os
import socket
import sys
import threading


def pump(src, dst, flip_at):
    seen = 0
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if flip_at is not None and seen <= flip_at < seen + len(data):
                b = bytearray(data)
                b[flip_at - seen] ^= 1
                data = bytes(b)
            seen += len(data)
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    target, direction, offset, portfile = sys.argv[1:5]
    host, _, port = target.rpartition(":")
    offset = int(offset)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(ls.getsockname()[1]))
    os.rename(tmp, portfile)
    ls.settimeout(60)
    try:
        c, _ = ls.accept()
    except OSError:
        return
    n = socket.create_connection((host, int(port)))
    ts = [threading.Thread(target=pump, args=(c, n, offset if direction == "up" else None)),
          threading.Thread(target=pump, args=(n, c, offset if direction == "down" else None))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)

main()
