"""Dask distributed peer for bench/run.sh: N shell commands as tasks.

    /usr/bin/python3 bench/dask_tasks.py WORKERS COMMANDS_FILE [REPS]
    /usr/bin/python3 bench/dask_tasks.py WORKERS --square N [REPS]

The second form (bench/workers.sh) maps a trivial Python function,
square(i), over range(N) with client.map: Python tasks without a process
each, the counterpart of a pooled line worker.

Starts a LocalCluster of WORKERS single-threaded worker processes (the
counterpart of a ray-node with --cpus WORKERS), then, REPS times, submits
one task per line of COMMANDS_FILE, each running the line with
subprocess.run(["sh", "-c", line]), and gathers every result.  Cluster
start-up is not timed, as the ray-tools side runs on an already started
node.  Prints "start_s S" and then "run_s S" per repetition.
"""
import subprocess
import sys
import time


def run(cmd):
    return subprocess.run(["sh", "-c", cmd]).returncode


def square(i):
    return i * i


def main():
    workers = int(sys.argv[1])
    fn = run
    if sys.argv[2] == "--square":
        fn = square
        cmds = list(range(int(sys.argv[3])))
        del sys.argv[2]
    else:
        with open(sys.argv[2]) as f:
            cmds = [line.rstrip("\n") for line in f if line.strip()]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 1

    import logging
    logging.getLogger("distributed").setLevel(logging.ERROR)
    from dask.distributed import Client, LocalCluster

    t0 = time.monotonic()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                           processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    client.wait_for_workers(workers)
    print("start_s %.3f" % (time.monotonic() - t0), flush=True)
    # Warm up: import and fork paths in every worker.
    client.gather(client.map(fn, cmds[:workers * 4] if fn is square else ["true"] * (workers * 4),
                             pure=False))
    for _ in range(reps):
        t0 = time.monotonic()
        futs = client.map(fn, cmds, pure=False)
        codes = client.gather(futs)
        dt = time.monotonic() - t0
        bad = sum(1 for c, i in zip(codes, cmds) if c != (i * i if fn is square else 0))
        if bad:
            print("dask: %d commands failed" % bad, file=sys.stderr)
            sys.exit(1)
        print("run_s %.3f" % dt, flush=True)
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
