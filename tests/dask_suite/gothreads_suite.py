"""pytest plugin for distributed's own test files (``make dask-suite``): the conftest.py
of distributed's source tree, and -- with GOTHREADS_DASK_SUITE_POOL=gothreads --
gothreads as the thread pool of every worker the tests start.

How the tasks reach gothreads: the same way a user's do.  ``distributed.worker.preload``
is set to ``gothreads.dask`` before distributed.utils_test takes its snapshot of the
configuration (which gen_cluster and friends restore), so every Worker -- in-process,
or in a Nanny's process, which gets the configuration from its nanny -- runs
``gothreads.dask.dask_setup``, which puts a gothreads pool in place of the default pool
the worker made itself.  test_threadpoolexecutor.py, which tests distributed's pool
class directly, gets ``gothreads.dask.ThreadPoolExecutor`` in its place (the secede and
rejoin it calls stay distributed's).

At the end it says how many tasks ran on gothreads pools and how many on distributed's
default pools (the latter should be none with gothreads); with gothreads, a session in
which no task ran on a gothreads pool fails.
"""
import itertools
import os
import weakref

import pytest

POOL = os.environ.get("GOTHREADS_DASK_SUITE_POOL", "distributed")
if POOL not in ("distributed", "gothreads"):
    raise ValueError(f"GOTHREADS_DASK_SUITE_POOL={POOL!r}: distributed or gothreads")

import dask  # noqa: E402

if POOL == "gothreads":
    # Before distributed.utils_test (below) snapshots dask's configuration.
    dask.config.set({"distributed.worker.preload": ["gothreads.dask"]})

from distributed import threadpoolexecutor as _dtpe  # noqa: E402

# Make all fixtures available (distributed's conftest.py).
from distributed.utils_test import *  # noqa: E402,F401,F403

import gothreads.dask  # noqa: E402

pytest_plugins = ["distributed.pytest_resourceleaks"]

_COUNTS = {"gothreads_pools": 0, "distributed_default_pool_tasks": 0}
_GOTHREADS_POOLS: "weakref.WeakSet" = weakref.WeakSet()
_SUBMITTED = {}  # serial number of an executor: tasks submitted to it, so far
_SERIAL = itertools.count()


def _count_gothreads_pools():
    init = gothreads.dask.ThreadPoolExecutor.__init__

    def counted_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._suite_serial = next(_SERIAL)
        _COUNTS["gothreads_pools"] += 1
        _GOTHREADS_POOLS.add(self)

    gothreads.dask.ThreadPoolExecutor.__init__ = counted_init

    shutdown = gothreads.dask.ThreadPoolExecutor.shutdown

    def counted_shutdown(self, *args, **kwargs):
        _SUBMITTED[self._suite_serial] = self.stats().submitted
        return shutdown(self, *args, **kwargs)

    gothreads.dask.ThreadPoolExecutor.shutdown = counted_shutdown

    submit = _dtpe.ThreadPoolExecutor.submit

    def counted_submit(self, *args, **kwargs):
        if str(getattr(self, "_thread_name_prefix", "")).endswith("Dask-Default-Threads"):
            _COUNTS["distributed_default_pool_tasks"] += 1
        return submit(self, *args, **kwargs)

    _dtpe.ThreadPoolExecutor.submit = counted_submit


_count_gothreads_pools()


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run slow tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="need --runslow option to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
        if "ws" in item.fixturenames:
            item.add_marker(pytest.mark.workerstate)


@pytest.fixture(autouse=True)
def _gothreads_in_place_of_distributeds_pool_class(request, monkeypatch):
    module = getattr(request, "module", None)
    if (POOL == "gothreads" and module is not None
            and module.__name__.rsplit(".", 1)[-1] == "test_threadpoolexecutor"):
        monkeypatch.setattr(module, "ThreadPoolExecutor", gothreads.dask.ThreadPoolExecutor)
    yield


def _gothreads_tasks():
    for executor in list(_GOTHREADS_POOLS):
        _SUBMITTED[executor._suite_serial] = executor.stats().submitted
    return sum(_SUBMITTED.values())


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(
        f"gothreads dask suite: pool={POOL}; in this process {_COUNTS['gothreads_pools']} "
        f"gothreads pools ran {_gothreads_tasks()} tasks, distributed's default pools "
        f"ran {_COUNTS['distributed_default_pool_tasks']}")


def pytest_sessionfinish(session, exitstatus):
    if POOL == "gothreads" and session.testscollected and _gothreads_tasks() == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
