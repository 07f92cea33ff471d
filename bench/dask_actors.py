"""Dask distributed peer for bench/actors.sh: actor method calls.

    /usr/bin/python3 bench/dask_actors.py CALLS SEQ [REPS]

Starts a LocalCluster of one single-threaded worker process, creates a
counter actor on it (client.submit(Counter, actor=True)), warms it up, then,
REPS times:
  - batched: CALLS calls to actor.increment() issued back to back, then
    every ActorFuture's result gathered;
  - sequential: SEQ calls, each waiting for its result before the next.
Every result is checked against the count it must hold (for batched
calls, as a set: Dask does not keep the order of calls issued back to back).  Cluster start-up
is not timed (the ray-tools side runs on an already started node).  The
asynchronous client (await asyncio.gather of the calls) was tried for the
batched case and is no faster: the cost is in Dask's per-call messaging.  Prints
"start_s S", then per repetition "batch_s S" and "seq_s S".
"""
import sys
import time


class Counter:
    def __init__(self):
        self.n = 0

    def increment(self):
        self.n += 1
        return self.n


def main():
    calls, seq = int(sys.argv[1]), int(sys.argv[2])
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 1

    import logging
    logging.getLogger("distributed").setLevel(logging.ERROR)
    from dask.distributed import Client, LocalCluster

    t0 = time.monotonic()
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    client.wait_for_workers(1)
    counter = client.submit(Counter, actor=True).result()
    print("start_s %.3f" % (time.monotonic() - t0), flush=True)
    count = 0
    for _ in range(10):
        count += 1
        if counter.increment().result() != count:
            sys.exit("dask: warm-up call answered wrong")
    for _ in range(reps):
        t0 = time.monotonic()
        futs = [counter.increment() for _ in range(calls)]
        got = [f.result() for f in futs]
        dt = time.monotonic() - t0
        # Dask does not promise that calls issued back to back run in the
        # order made (ray-tools does): check the set of counts only.
        if sorted(got) != list(range(count + 1, count + calls + 1)):
            sys.exit("dask: batched calls answered wrong")
        print("batch_in_order %d" % (got == sorted(got)), flush=True)
        count += calls
        print("batch_s %.6f" % dt, flush=True)
        t0 = time.monotonic()
        for _ in range(seq):
            count += 1
            if counter.increment().result() != count:
                sys.exit("dask: sequential call answered wrong")
        print("seq_s %.6f" % (time.monotonic() - t0), flush=True)
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
