"""gothreads as the pool of dask.distributed workers (gothreads.dask), on a LocalCluster
of two worker processes on 127.0.0.1 (tests/dask_cluster.py), against distributed's own
pool in the same run; then in-process workers (closing one, thread names) and the pool
as distributed's secede/rejoin see it.  Needs the dask extra; `make dask-test` (part of `make check`)
installs it and sets GOTHREADS_REQUIRE_DASK=1, which turns the skip into a failure."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import distributed  # noqa: F401
except ImportError:
    if os.environ.get("GOTHREADS_REQUIRE_DASK") == "1":
        raise
    pytest.skip("dask.distributed is not installed (pip install gothreads[dask])",
                allow_module_level=True)


@pytest.fixture(scope="module", autouse=True)
def offload_thread_started():
    """distributed keeps one process-wide offload thread ("Dask-Offload"), started on
    first use and never shut down; started here, before any test, it is part of what
    the runtime balance check (conftest.py) sees before each test, not a leak."""
    from distributed import utils
    utils._offload_executor.submit(int).result(timeout=30)


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


# -- in-process workers (LocalCluster(processes=False)) ------------------------------------

RELEASE = threading.Event()  # the tasks below wait on it; shared with in-process workers
TASK_SECONDS = 8  # at most


def wait_for_release(secede_first):
    from distributed import secede
    if secede_first:
        secede()
    RELEASE.wait(TASK_SECONDS)
    return "released"


def thread_name():
    return threading.current_thread().name


def local_cluster(gothreads, **kw):
    from distributed import LocalCluster
    if gothreads:
        kw["preload"] = ["gothreads.dask"]
    return LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                        protocol="tcp://", host="127.0.0.1", dashboard_address=None, **kw)


def close_time_with_a_task(secede_first, config=None):
    """Seconds cluster.close() takes while a task waits (seceded or in the pool), with
    gothreads as the in-process worker's pool."""
    import dask
    from distributed import Client
    RELEASE.clear()
    try:
        with dask.config.set(config or {}):
            cluster = local_cluster(True)
            with Client(cluster) as client:
                pools = client.run(lambda dask_worker: type(dask_worker.executor).__module__)
                assert list(pools.values()) == ["gothreads.dask"]
                fut = client.submit(wait_for_release, secede_first, pure=False)
                deadline = time.monotonic() + 10
                while client.processing() == {} or not any(client.processing().values()):
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                time.sleep(0.3)  # running (and seceded) in the worker
                del fut
            t0 = time.monotonic()
            cluster.close()
            return time.monotonic() - t0
    finally:
        RELEASE.set()


def test_worker_close_does_not_wait_for_a_seceded_task():
    # distributed's Worker.close waits at most its timeout for its own pool's threads,
    # and not at all for seceded ones (no longer the pool's): so does gothreads'.
    took = close_time_with_a_task(secede_first=True)
    assert took < TASK_SECONDS / 2, took


def test_worker_close_waits_for_a_running_task_at_most_the_close_timeout():
    # distributed gives its own pool the worker's close timeout (30 s by default);
    # gothreads' takes it from gothreads.close-timeout (default 30).
    took = close_time_with_a_task(secede_first=False, config={"gothreads.close-timeout": 1})
    assert 0.9 < took < TASK_SECONDS / 2 + 1, took


def test_the_pool_threads_are_named_as_distributeds_own():
    # distributed names the default pool's threads "<worker name>-Dask-Default-Threads-..."
    # (recent versions; "Dask-Default-Threads-..." before): the preload keeps that prefix.
    from distributed import Client
    names = {}
    for gothreads in (False, True):
        with local_cluster(gothreads) as cluster, Client(cluster) as client:
            pools = client.run(lambda dask_worker: dask_worker.executor._thread_name_prefix)
            (prefix,) = pools.values()
            names[gothreads] = prefix, client.submit(thread_name, pure=False).result(timeout=30)
    assert names[True][0] == names[False][0], names
    assert names[True][1].startswith(names[False][0] + "_"), names


def test_threads_leave_out_a_seceded_task_and_rejoin_outside_a_region_does_nothing():
    # What distributed's own pool does, which its tests and code expect: a seceded
    # thread is not in executor._threads, and rejoin() when not seceded is a no-op.
    # gothreads.rejoin() itself still raises there.  (distributed's pool-level secede and
    # rejoin, which the worker-level ones call: these need no worker.)
    from distributed.threadpoolexecutor import rejoin, secede

    import gothreads
    import gothreads.dask

    with gothreads.dask.ThreadPoolExecutor(2) as e:
        def task():
            me = threading.current_thread()
            seen = [me in e._threads]
            secede()
            seen.append(me in e._threads)
            rejoin()
            seen.append(me in e._threads)
            rejoin()  # not seceded: nothing
            secede()
            for _ in range(3):
                rejoin()
            seen.append(me in e._threads)
            with pytest.raises(RuntimeError):
                gothreads.rejoin()
            return seen

        assert e.submit(task).result(timeout=30) == [True, False, True, True]
