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
