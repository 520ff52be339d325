"""gothreads as the thread pool of dask.distributed workers (``pip install gothreads[dask]``).

A dask worker runs its tasks in a thread pool.  With gothreads it is one whose idle
threads exit, and whose blocking regions (gothreads.blocking) carry distributed's
``secede()``, ``rejoin()`` and ``worker_client()``: a task that waits for tasks it
submitted hands its slot to the next task, as with distributed's own pool.

Start workers with it by preloading this module, which replaces each worker's default
executor::

    LocalCluster(preload=["gothreads.dask"])         # or SpecCluster, Nanny(preload=...)
    dask worker tcp://scheduler:8786 --preload gothreads.dask

or hand a worker an executor yourself (in-process workers)::

    Worker(scheduler, executor=gothreads.dask.ThreadPoolExecutor(4))

Dask configuration, read in each worker when the preload runs: ``gothreads.idle-timeout``
(seconds an idle thread lives, default 10), ``gothreads.max-threads`` (the ceiling
on threads, seceded ones included; default: gothreads' own) and
``gothreads.close-timeout`` (how long closing the worker waits for tasks still running
in the pool, default 30, as distributed's ``Worker.close(timeout=30)``).

Closing a worker: distributed shuts its own pool down with ``shutdown(wait=...,
timeout=<the close timeout>)``, which waits for the pool's threads only -- a seceded
task's thread is no longer one of them -- and at most that long; any other executor it
shuts down with a bare ``shutdown(wait=...)``.  This pool's ``shutdown`` therefore
waits the same way: not for seceded tasks, and, when given no timeout, at most
``close_timeout`` seconds.

How it fits: distributed's ``secede``/``rejoin`` reach the pool of the calling thread
through ``distributed.threadpoolexecutor.thread_state.executor``, expecting the private
members of distributed's own pool (a set ``_threads`` that secede removes the thread
from, ``_adjust_thread_count``, a ``_rejoin_list`` that rejoin appends to, then
``submit`` and an event to wait on).  Each gothreads worker gets a small object there
that maps those onto gothreads.secede() and rejoin().
"""
from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, List, Optional, Set, Tuple

from distributed import threadpoolexecutor as _dtpe

from gothreads import _runtime
from gothreads import executor as _executor
from gothreads._worker import current_slot

__all__ = ["ThreadPoolExecutor", "dask_setup"]

# What Worker.close gives distributed's own pool by default: Worker.close(timeout=30).
DEFAULT_CLOSE_TIMEOUT = 30.0
# shutdown() looks again this often for workers that seceded meanwhile.
_JOIN_SLICE = 0.05
_UNSET: Any = object()


class ThreadPoolExecutor(_executor.ThreadPoolExecutor):
    """gothreads.ThreadPoolExecutor for dask.distributed workers: the same pool, whose
    threads also answer distributed's ``secede()``/``rejoin()``/``worker_client()``.

    ``join_at_exit`` is False by default, as distributed's own threads are daemons: a
    worker process that exits does not wait for tasks still running.  (distributed
    runs a task with the worker's context -- ``get_worker()``, the task's key -- only
    in an executor whose class name holds "ThreadPoolExecutor".)

    As distributed's own pool, its members are the threads running tasks outside
    ``secede()``: ``_threads`` leaves seceded ones out, and ``shutdown()`` does not
    wait for them.  ``close_timeout`` bounds ``shutdown(wait=True)`` when it is given
    no ``timeout`` (None: no bound), since distributed's ``Worker.close`` passes its
    timeout to its own pool only."""

    def __init__(self, max_workers: Optional[int] = None, thread_name_prefix: str = "",
                 initializer: Optional[Callable[..., object]] = None,
                 initargs: Tuple[Any, ...] = (), *, join_at_exit: bool = False,
                 close_timeout: Optional[float] = DEFAULT_CLOSE_TIMEOUT,
                 **kwargs: Any) -> None:
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if close_timeout is not None:
            _check_timeout(close_timeout, "close_timeout")
        pool_side = _DistributedPool()

        def init(*args: Any) -> None:
            # What distributed's own worker loop sets in each of its threads.
            _dtpe.thread_state.executor = pool_side
            _dtpe.thread_state.proceed = True
            if initializer is not None:
                initializer(*args)

        super().__init__(max_workers, thread_name_prefix, init, initargs,
                         join_at_exit=join_at_exit, **kwargs)
        self._close_timeout = close_timeout

    def _members(self) -> List[threading.Thread]:
        """The live workers, less those running a task inside secede()."""
        return [w for w in self._pool.snapshot() if not w.in_region()]

    @property
    def _threads(self) -> Set[threading.Thread]:  # type: ignore[override]
        """A snapshot of the live workers that are not seceded: distributed's pool
        drops a thread from ``_threads`` when it secedes, and adds it back on rejoin."""
        return set(self._members())

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False,  # type: ignore[override]
                 timeout: Optional[float] = _UNSET) -> bool:
        """As gothreads' ``shutdown``, but waiting for the pool's members only, as
        distributed's pool does: a task that seceded is not waited for (it runs on, and
        its thread exits when it returns).  With no ``timeout`` given, the wait lasts at
        most ``close_timeout`` seconds; ``timeout=None`` waits as long as it takes.

        Returns True when every worker, seceded ones included, has exited."""
        if timeout is _UNSET:
            timeout = self._close_timeout
        if timeout is not None:
            _check_timeout(timeout, "timeout")
        deadline = None if timeout is None else time.monotonic() + timeout
        super().shutdown(False, cancel_futures=cancel_futures)
        if not wait:
            return False
        while True:
            members = self._members()
            if not members:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            # A member may secede meanwhile: join in slices, then look again.
            members[0].join(_JOIN_SLICE if left is None else min(left, _JOIN_SLICE))
        _runtime.reap()
        return all(w.has_exited() for w in self._pool.snapshot())


def _check_timeout(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise TypeError(f"{name} must be a number or None")
    if value < 0:
        raise ValueError(f"{name} must be 0 or greater, or None")


class _DistributedPool:
    """What distributed's secede() and rejoin() find as the calling thread's pool."""

    def __init__(self) -> None:
        self._threads = _Members()
        self._rejoin_list = _Rejoins()
        # rejoin() appends under this lock; the wait for a slot happens in the append,
        # so it is a no-op rather than a lock held while waiting.
        self._rejoin_lock = contextlib.nullcontext()

    def _adjust_thread_count(self) -> None:
        pass  # gothreads.secede() has already staffed the pool's queued work

    def submit(self, fn: Callable[[], object]) -> "Future[None]":
        # rejoin() submits a no-op to wake a thread of distributed's pool that would
        # hand over its slot; gothreads' rejoin has already waited for one.
        f: "Future[None]" = Future()
        f.set_result(None)
        return f


class _Members:
    """``_threads``: distributed's secede() removes the calling thread from it."""

    def remove(self, thread: threading.Thread) -> None:
        if thread is not threading.current_thread():
            raise KeyError(thread)
        try:
            _executor.secede()
        except RuntimeError:
            # Already seceded (worker_client() inside secede()): distributed expects
            # KeyError for a thread that is no longer a member.
            raise KeyError(thread) from None

    def add(self, thread: threading.Thread) -> None:
        pass


class _Rejoins:
    """``_rejoin_list``: distributed's rejoin() appends (thread, event), then waits on
    the event.  The append waits, first come first served, for a slot.  Outside a
    blocking region it does nothing, as distributed's rejoin() does for a thread that
    is already in its pool (gothreads.rejoin() raises there)."""

    def append(self, entry: Tuple[threading.Thread, threading.Event]) -> None:
        thread, event = entry
        if thread is threading.current_thread():
            slot = current_slot()
            if slot is not None and slot.seceded:
                _executor.rejoin()
        event.set()

    def __bool__(self) -> bool:
        return False  # nothing waits here for another thread to pick it up


def dask_setup(worker: Any) -> None:
    """The preload hook: make a gothreads pool the worker's default executor, with as
    many workers as the worker has threads -- in place of the pool the worker made
    itself (distributed's own class).  An executor the user chose for the worker is
    kept: ``executor="offload"`` makes that distributed's process-wide offload
    executor, which must never be shut down.  The threads keep the name prefix the
    worker gave its own pool (``<worker name>-Dask-Default-Threads`` in recent
    distributed)."""
    import dask

    old = worker.executors.get("default")
    if old is not None and type(old) is not _dtpe.ThreadPoolExecutor:
        return
    idle_timeout = dask.config.get("gothreads.idle-timeout", 10.0)
    max_threads = dask.config.get("gothreads.max-threads", None)
    close_timeout = dask.config.get("gothreads.close-timeout", DEFAULT_CLOSE_TIMEOUT)
    prefix = getattr(old, "_thread_name_prefix", None) or "Dask-Default-Threads"
    worker.executors["default"] = ThreadPoolExecutor(
        worker.state.nthreads, thread_name_prefix=prefix,
        idle_timeout=None if idle_timeout is None else float(idle_timeout),
        max_threads=None if max_threads is None else int(max_threads),
        close_timeout=None if close_timeout is None else float(close_timeout))
    if old is not None:
        old.shutdown(wait=False)
