"""Dask distributed peer for bench/run.sh: N shell commands as tasks.

    /usr/bin/python3 bench/dask_tasks.py WORKERS COMMANDS_FILE [REPS]

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


def main():
    workers = int(sys.argv[1])
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
    client.gather(client.map(run, ["true"] * (workers * 4), pure=False))
    for _ in range(reps):
        t0 = time.monotonic()
        futs = client.map(run, cmds, pure=False)
        codes = client.gather(futs)
        dt = time.monotonic() - t0
        bad = sum(1 for c in codes if c != 0)
        if bad:
            print("dask: %d commands failed" % bad, file=sys.stderr)
            sys.exit(1)
        print("run_s %.3f" % dt, flush=True)
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
