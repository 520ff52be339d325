"""A dask.distributed LocalCluster on 127.0.0.1 whose workers run tasks that secede,
rejoin and submit from inside (worker_client), with gothreads as the workers' pool
(preload gothreads.dask) or with distributed's own; prints what tests/test_dask.py
compares, as JSON.  Run as a script: the cluster's worker processes are spawned."""
import json
import os
import sys
import time

import dask
from distributed import Client, LocalCluster, get_worker, rejoin, secede, worker_client


def fib(n):
    if n < 2:
        return n
    with worker_client() as c:  # secedes; rejoins on the way out
        a, b = c.submit(fib, n - 1), c.submit(fib, n - 2)
        return a.result() + b.result()


def nap(x):
    secede()
    time.sleep(0.05)
    rejoin()
    return x * x


def os_threads():
    return len(os.listdir("/proc/self/task"))


def worker_threads(dask_worker):
    return os_threads()


def load_threads(x):
    time.sleep(0.2)
    return get_worker().address, os_threads()


def main(mode):
    kw = {"preload": ["gothreads.dask"]} if mode == "gothreads" else {}
    dask.config.set({"gothreads.idle-timeout": 0.5})
    t0 = time.monotonic()
    with LocalCluster(processes=True, n_workers=2, threads_per_worker=2, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", **kw) as cluster, Client(cluster) as client:
        pools = client.run(lambda dask_worker: type(dask_worker.executor).__module__)
        warm = client.gather(client.map(abs, range(-4, 0)))
        time.sleep(1.0)
        before = client.run(worker_threads)
        fibs = client.gather([client.submit(fib, n, pure=False) for n in (10, 12)])
        naps = client.gather(client.map(nap, range(8)))
        during = {}
        for addr, n in client.gather(client.map(load_threads, range(8), pure=False)):
            during[addr] = max(during.get(addr, 0), n)
        peak = client.run(worker_threads)
        time.sleep(2.5)  # idle threads leave (gothreads: idle-timeout 0.5 s)
        after = client.run(worker_threads)
        print(json.dumps({
            "mode": mode, "pools": sorted(pools.values()), "warm": warm, "fibs": fibs,
            "naps": naps, "before": sorted(before.values()),
            "during": sorted(during.values()), "peak_after_load": sorted(peak.values()),
            "after": sorted(after.values()), "seconds": round(time.monotonic() - t0, 2),
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
