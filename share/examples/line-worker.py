#!/usr/bin/python3
"""line-worker.py: a pooled worker in Python speaking the `line` protocol
(docs/actor-protocols.md): each call is one line on stdin,
METHOD<TAB>ARG<TAB>..., answered by one line on stdout; a line that starts
with '!' fails the call (ray-get exits 1) and the worker lives on.  Python
starts once per worker, not once per task:

    ray-submit --worker 'python3 share/examples/line-worker.py' -- square 7 | ray-get
    seq 100 | sed 's/^/square\t/' | \
        ray-submit --worker 'python3 share/examples/line-worker.py' --batch | ray-get

Methods: square N, upper WORD..., lines PATH (the number of lines of the
file PATH; pass an object as @REF), pid, fail MSG.
"""
import os
import sys


def square(n):
    return str(int(n) ** 2)


def upper(*words):
    return "\t".join(w.upper() for w in words)


def lines(path):
    with open(path, "rb") as f:
        return str(sum(1 for _ in f))


def pid():
    return str(os.getpid())


METHODS = {"square": square, "upper": upper, "lines": lines, "pid": pid}


def main():
    out = sys.stdout
    for line in sys.stdin:
        method, *args = line.rstrip("\n").split("\t")
        try:
            if method == "fail":
                raise RuntimeError(args[0] if args else "failed")
            if method not in METHODS:
                raise KeyError("no method '%s'" % method)
            out.write(METHODS[method](*args) + "\n")
        except Exception as e:
            out.write("!" + str(e).replace("\n", " ") + "\n")
        out.flush()


if __name__ == "__main__":
    main()
