"""gothreads as the pool of dask.distributed workers (gothreads.dask), on a LocalCluster
of two worker processes on 127.0.0.1 (tests/dask_cluster.py), against distributed's own
pool in the same run.  Needs the dask extra; `make dask-test` (part of `make check`)
installs it and sets GOTHREADS_REQUIRE_DASK=1, which turns the skip into a failure."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import distributed  # noqa: F401
except ImportError:
    if os.environ.get("GOTHREADS_REQUIRE_DASK") == "1":
        raise
    pytest.skip("dask.distributed is not installed (pip install gothreads[dask])",
                allow_module_level=True)


def cluster_run(mode):
    p = subprocess.run([sys.executable, os.path.join(HERE, "dask_cluster.py"), mode],
                       capture_output=True, text=True, timeout=240, cwd=HERE)
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_gothreads_runs_a_dask_cluster_as_distributeds_pool_does():
    got = cluster_run("gothreads")
    ref = cluster_run("default")
    print(json.dumps(got), json.dumps(ref), sep="\n")
    assert got["pools"] == ["gothreads.dask", "gothreads.dask"]
    assert ref["pools"] == ["distributed.threadpoolexecutor"] * 2
    # The same answers: worker_client() (secede, submit from a task, rejoin), secede()
    # and rejoin() by hand.
    for key in ("warm", "fibs", "naps"):
        assert got[key] == ref[key], key
    assert got["fibs"] == [55, 144]
    assert got["naps"] == [x * x for x in range(8)]
    # Idle threads leave: each worker process is back to its thread count before the
    # load, having had more threads under it.
    assert all(a <= b for a, b in zip(got["after"], got["before"])), got
    assert max(got["during"]) > max(got["after"]), got


def test_preload_replaces_only_the_pool_the_worker_made_itself():
    # dask_setup() swaps the pool a Worker makes when given none (distributed's own
    # class) for a gothreads one.  An executor the user chose stays, and is not shut
    # down: Worker(executor="offload") makes the default distributed's process-wide
    # offload executor, which comms and (de)serialization keep using.
    import types
    from concurrent.futures import ThreadPoolExecutor as StdlibPool

    from distributed import threadpoolexecutor, utils

    import gothreads.dask

    def worker(default):
        return types.SimpleNamespace(executors={"default": default},
                                     state=types.SimpleNamespace(nthreads=2))

    own = threadpoolexecutor.ThreadPoolExecutor(2)
    w = worker(own)
    gothreads.dask.dask_setup(w)
    assert isinstance(w.executors["default"], gothreads.dask.ThreadPoolExecutor)
    assert own._shutdown
    w.executors["default"].shutdown()

    for chosen in (utils._offload_executor, StdlibPool(1)):
        w = worker(chosen)
        gothreads.dask.dask_setup(w)
        assert w.executors["default"] is chosen
        assert not chosen._shutdown
        assert chosen.submit(pow, 2, 3).result(timeout=10) == 8
    chosen.shutdown()
