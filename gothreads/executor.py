"""gothreads.ThreadPoolExecutor: a drop-in for concurrent.futures.ThreadPoolExecutor
whose idle workers exit.

Workers are the runtime's python Ms (gothreads.runtime), registered with ``threading``
under the stdlib's names, so ``threading.current_thread()`` and ``threading.enumerate()``
see them while they live and forget them when they exit.

The pool itself -- its queue, its workers' parking and waking, the completion of its
futures -- is compiled (gothreads/_pool.pyx, which explains how it works): it takes no
lock, each change of its state being atomic under the GIL.

The lock order, with the runtime's (csrc/runtime.h): GIL -> _global_lock -> (the
runtime's sched.lock, taken only by thread creation).  The pool adds no lock.  Future
callbacks, cancellations and joins run with nothing held but the GIL.  Leaving a blocking
region (rejoin) never waits.  Starting a worker waits, with the GIL released and no lock
held, for the new thread to say whether it can attach a thread state; the new thread
says so before it takes the GIL or any lock.  distributed's secede() calls
gothreads.secede() holding its module's threads_lock, under which the pool may start a
thread (sched.lock, then that wait), and no gothreads thread ever takes threads_lock.
With max_pending, submit() from outside the pool may wait for room: on a Lock of its
own, with the GIL released and nothing of gothreads held; a worker releases it with the
GIL held, and a worker itself never waits there.  (A caller that holds a lock of its
own while it submits, which a queued task needs, can deadlock, as with any bounded
queue.)  The adaptive controller's thread takes no lock, only the GIL.
"""
from __future__ import annotations

import collections
import itertools
import os
import threading
import time
import weakref
from concurrent.futures import _base
from concurrent.futures import thread as _stdlib_thread
from typing import (Any, Callable, Iterable, Iterator, List, Literal, NamedTuple, Optional,
                    Set, Tuple, TypeVar)

from gothreads import _config, _pool, _runtime
from gothreads._config import MIN_WORKER_STACK
from gothreads._futures import _Future, _HandoffFuture
from gothreads._regions import blocking, exit_thread, handoff, rejoin, secede
from gothreads._worker import _Worker

_T = TypeVar("_T")

__all__ = ["ThreadPoolExecutor", "BrokenThreadPool", "ExecutorStats", "exit_thread",
           "blocking", "secede", "rejoin", "MIN_WORKER_STACK"]

BrokenThreadPool = _stdlib_thread.BrokenThreadPool
Future = _base.Future
LOGGER = _base.LOGGER

_global_lock = threading.Lock()
_pools: "weakref.WeakSet[_pool.Pool]" = weakref.WeakSet()


class ExecutorStats(NamedTuple):
    """A snapshot of one executor (``ThreadPoolExecutor.stats()``)."""

    workers: int             #: live workers, busy or idle (starting ones included)
    idle: int                #: parked, waiting for work
    busy: int                #: running a task outside a blocking region
    peak_workers: int        #: the most workers alive at once
    pending: int             #: tasks submitted and not yet started
    submitted: int           #: tasks accepted by submit/map
    completed: int           #: tasks that returned
    failed: int              #: tasks that raised
    threads_created: int     #: worker threads this executor started
    threads_exited: int      #: of which have exited
    stacks_reaped: int       #: process-wide: M stacks the runtime reclaimed
    stack_bytes_mapped: int  #: process-wide: bytes of M stacks mapped (cache included)
    seceded: int = 0         #: running a task inside a blocking region (gothreads.blocking)
    limit: Optional[int] = None  #: adaptive: tasks it runs at once now (else None)
    throughput: float = 0.0  #: adaptive: tasks per second in the controller's last window
    limit_reason: str = ""   #: adaptive: why the limit is what it is


def _join_workers(pool: _pool.Pool, workers: List[_Worker],
                  deadline: Optional[float] = None) -> bool:
    """Join ``workers``, then every worker the pool started meanwhile (a worker that
    leaves through exit_thread() starts a replacement for the work still queued), until
    none is left or ``deadline`` (time.monotonic()) passes.  True when all have exited."""
    joined: Set[_Worker] = set()
    while workers:
        for w in workers:
            w.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            joined.add(w)
        workers = [w for w in pool.snapshot() if w not in joined]
        if deadline is not None and time.monotonic() >= deadline:
            break
    return not workers and all(w.has_exited() for w in joined)


def _python_exit() -> None:
    """Like the stdlib's: at interpreter exit, let queued work finish and join the
    workers, from threading's at-exit hook (before non-daemon threads are joined)."""
    with _global_lock:
        _pool.interpreter_exit()  # after which submit fails
        pools = list(_pools)
    joining = []
    for pool in pools:
        if pool.join_at_exit:
            joining.append((pool, pool.wake_all()))
        else:
            # Queued work is cancelled; running tasks are not waited for: their threads
            # end when they next need the GIL during finalization.
            pool.begin_shutdown(cancel_futures=True)
    for pool, workers in joining:
        _join_workers(pool, workers)


threading._register_atexit(_python_exit)  # type: ignore[attr-defined]


def _after_fork_child() -> None:
    global _global_lock
    _global_lock = threading.Lock()
    for pool in list(_pools):
        pool.after_fork_child()


os.register_at_fork(after_in_child=_after_fork_child)


def _result_or_cancel(fut: "Future[_T]", timeout: Optional[float] = None) -> _T:
    try:
        try:
            return fut.result(timeout)
        finally:
            fut.cancel()
    finally:
        del fut


class _QueueView:
    """``executor._work_queue``: what existing code reads of the stdlib's queue."""

    __slots__ = ("_pool",)

    def __init__(self, pool: _pool.Pool) -> None:
        self._pool = pool

    def qsize(self) -> int:
        return len(self._pool.queue)

    def empty(self) -> bool:
        return not self._pool.queue


class ThreadPoolExecutor(_stdlib_thread.ThreadPoolExecutor):
    """A drop-in for :class:`concurrent.futures.ThreadPoolExecutor` whose idle workers exit.

    The stdlib's arguments keep their meaning; the new ones are keyword-only:

    min_workers
        workers kept alive once started, however idle (default 0).
    idle_timeout
        seconds a worker may stay idle before it exits, when more than ``min_workers``
        are alive (default 10.0; ``None``: never; ``0``: as soon as it is idle).
    stack_size
        bytes of stack per worker (default: ``threading.stack_size()`` if set, else the
        stack a normal Python thread gets; at least ``MIN_WORKER_STACK``).
    propagate_context
        when true, each task runs in a copy of the ``contextvars`` context of the code
        that submitted it (default False, as in the stdlib).
    join_at_exit
        when false, interpreter exit does not wait for running tasks and cancels queued
        ones (default True: queued work finishes, as in the stdlib).
    handoff_on_wait
        when true, a task that waits, without a timeout, for a future of this executor
        (its ``result()`` or ``exception()``, ``concurrent.futures.wait()``,
        ``as_completed()``, or the results of ``map``) does so in a blocking region
        (:func:`gothreads.blocking`),
        so that tasks which submit work and wait for it never deadlock the pool
        (default False, as in the stdlib, where that deadlocks once ``max_workers``
        tasks wait).
    max_threads
        the most workers the executor has at once, those in blocking regions included
        (default: 1024, or ``max_workers`` if that is more; a worker that has left may
        still be ending its thread for a moment).  At the ceiling no worker starts:
        queued work waits for a worker to finish a task, and a program whose tasks all
        wait for queued ones deadlocks there as it would without blocking regions.
    adaptive
        when true, the executor picks how many tasks run at once, between 1 and
        ``max_workers`` (default with adaptive: 256), from the throughput it measures
        (csrc/adapt.c says how; ``stats()`` shows its limit and why).  Results are the
        same; only timing and the thread count change.  Default False: ``max_workers``
        run at once, as in the stdlib.
    max_pending
        at most this many tasks wait in the queue: ``submit()`` from outside the
        executor waits for room, in order of arrival (default None: no bound, as in
        the stdlib).  A task of this executor that submits never waits (its submissions
        go over the bound: waiting could deadlock the pool).  ``map()`` without a
        timeout or buffersize holds its items itself; use ``buffersize`` to bound it.
    pending_timeout
        with ``max_pending``, how long ``submit()`` waits for room before it raises
        ``queue.Full`` (default None: as long as it takes).
    """

    # Shared with the stdlib class, as in the stdlib: names ThreadPoolExecutor-N.
    _counter = _stdlib_thread.ThreadPoolExecutor._counter  # type: ignore[attr-defined]

    def __init__(
        self,
        max_workers: Optional[int] = None,
        thread_name_prefix: str = "",
        initializer: Optional[Callable[..., object]] = None,
        initargs: Tuple[Any, ...] = (),
        *,
        min_workers: int = 0,
        idle_timeout: Optional[float] = 10.0,
        stack_size: Optional[int] = None,
        propagate_context: bool = False,
        join_at_exit: bool = True,
        handoff_on_wait: bool = False,
        max_threads: Optional[int] = None,
        adaptive: bool = False,
        max_pending: Optional[int] = None,
        pending_timeout: Optional[float] = None,
    ) -> None:
        prefix = thread_name_prefix or ("ThreadPoolExecutor-%d" % self._counter())
        config = _config.make_config(
            max_workers, prefix, initializer, initargs, min_workers=min_workers,
            idle_timeout=idle_timeout, stack_size=stack_size,
            propagate_context=propagate_context, join_at_exit=join_at_exit,
            handoff_on_wait=handoff_on_wait, max_threads=max_threads, adaptive=adaptive,
            max_pending=max_pending, pending_timeout=pending_timeout)
        self._max_workers = config.max_workers  # type: ignore[assignment]  # (the stdlib takes a float too)
        self._thread_name_prefix = prefix
        # (typeshed types it -> None before 3.14)
        self._initializer = initializer  # type: ignore[assignment, unused-ignore]
        self._initargs = initargs
        if handoff_on_wait:
            handoff_type = _HandoffFuture.for_pool()
            self._pool = _pool.Pool(config, handoff_type, _Worker)
            handoff_type.bind_pool(self._pool)
        else:
            self._pool = _pool.Pool(config, _Future, _Worker)
        _pools.add(self._pool)
        self._work_queue = _QueueView(self._pool)  # type: ignore[assignment]  # a view of ours
        self._shutdown_lock = threading.Lock()
        # When the executor is dropped, its pool shuts down as the stdlib's does.
        pool = self._pool

        def dropped(_: object) -> None:
            pool.begin_shutdown(False)

        self._pool_ref = weakref.ref(self, dropped)

    # -- what existing code reads ------------------------------------------------------

    # Read-only views of the pool where the stdlib has attributes.
    @property
    def _threads(self) -> Set[threading.Thread]:  # type: ignore[override]
        """A snapshot of the live workers (started or starting)."""
        return set(self._pool.snapshot())

    @property
    def _broken(self) -> Any:  # type: ignore[override]
        return self._pool.broken

    @property
    def _shutdown(self) -> bool:  # type: ignore[override]
        return self._pool.shutdown

    # -- the Executor API ----------------------------------------------------------------

    # def submit(self, fn, /, *args, **kwargs) -> Future, compiled.
    submit = _pool.submit
    submit.__doc__ = _base.Executor.submit.__doc__

    def map(self, fn: Callable[..., _T], *iterables: Iterable[Any],
            timeout: Optional[float] = None, chunksize: int = 1,
            buffersize: Optional[int] = None) -> Iterator[_T]:
        """Returns an iterator equivalent to ``map(fn, *iterables)``, whose calls run on
        the executor's workers, several at once.

        Every item is taken from the input now (unless ``buffersize`` is given), its
        results come back in input order, and an item's exception is raised when the
        iterator reaches it.  ``timeout``: seconds from this call after which the
        iterator raises ``TimeoutError`` for a result not yet there (None: no limit).
        ``chunksize`` is accepted and means nothing for threads.  ``buffersize`` (as in
        Python 3.14): at most that many items are taken from the input ahead of the
        consumer, so an endless iterator works and memory stays bounded.  Closing the
        iterator, or an item's exception, keeps the items not yet started from running.

        A subclass or an instance that replaces ``submit`` has it called once per item,
        as ``concurrent.futures.Executor.map`` does; otherwise the items run without a
        Future each.
        """
        if buffersize is not None:
            if not isinstance(buffersize, int):  # bool included, as in the stdlib
                raise TypeError("buffersize must be an integer or None")
            if buffersize < 1:
                raise ValueError("buffersize must be None or > 0")
        if timeout is None and buffersize is None and not self._submit_replaced():
            return self._map_batch(fn, zip(*iterables))
        if timeout is not None:
            end_time = timeout + time.monotonic()
        args_iter = zip(*iterables)
        if buffersize is None:
            fs = collections.deque(self.submit(fn, *args) for args in args_iter)
        else:
            fs = collections.deque(self.submit(fn, *args)
                                   for args in itertools.islice(args_iter, buffersize))
        # The generator holds the executor weakly, so it does not keep it alive.
        executor_ref = weakref.ref(self)

        # Yield must be hidden in closure so that the futures are submitted before the
        # first iterator value is required.
        def result_iterator() -> Iterator[_T]:
            try:
                while fs:
                    if buffersize is not None:
                        executor = executor_ref()
                        if executor is not None:
                            args = next(args_iter, None)
                            if args is not None:
                                fs.append(executor.submit(fn, *args))
                        del executor
                    if timeout is None:
                        yield _result_or_cancel(fs.popleft())
                    else:
                        yield _result_or_cancel(fs.popleft(), end_time - time.monotonic())
            finally:
                for future in fs:
                    future.cancel()

        return result_iterator()

    def _map_batch(self, fn: Callable[..., _T], args_iter: Iterator[Tuple[Any, ...]]) -> Iterator[_T]:
        """map without a timeout or buffersize: one _pool.MapBatch, whose items are
        claimed one at a time by whichever of its runners is free (one runner per
        worker), so no item waits behind another while a worker is free, and no item
        gets a Future.  As in the stdlib, every item is taken from the input now (the
        ones before an input error still run), an exception is raised at its item's
        position, and closing the iterator keeps the items not yet started from running;
        ``chunksize`` means nothing for threads."""
        items: List[Tuple[Any, ...]] = []
        try:
            for args in args_iter:
                items.append(args)
        finally:
            batch = _pool.MapBatch(self._pool, fn, items)
            if items:
                batch.start()
        del items

        pool = self._pool
        result = batch.result

        if pool.handoff_on_wait:
            def result(i: int) -> Any:
                with handoff(pool, None):
                    return batch.result(i)

        def result_iterator() -> Iterator[_T]:
            try:
                for i in range(batch.n):
                    yield result(i)
            finally:
                batch.stop()

        return result_iterator()

    def _submit_replaced(self) -> bool:
        """Has a subclass or the instance replaced submit (tqdm counts progress from the
        futures its own submit returns)?  Then map calls it once per item."""
        return type(self).submit is not _pool.submit or "submit" in self.__dict__

    # Returns whether the workers are gone where the stdlib's returns None.
    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False,  # type: ignore[override]
                 timeout: Optional[float] = None) -> bool:
        """Like :meth:`concurrent.futures.Executor.shutdown`, plus ``timeout``: with
        ``wait=True``, wait at most ``timeout`` seconds for the workers (``None``: as long
        as it takes).  Tasks still running then keep running, and their futures complete
        as usual.

        Returns True when every worker has exited (always with ``wait=True`` and no
        timeout), False when the timeout expired first or ``wait`` is false.
        """
        deadline = None
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout != timeout:
                raise TypeError("timeout must be a number or None")
            if timeout < 0:
                raise ValueError("timeout must be 0 or greater, or None")
            if timeout < threading.TIMEOUT_MAX:  # longer (inf too): as long as it takes
                deadline = time.monotonic() + timeout
        ticker = self._pool.ticker_thread()  # the adaptive controller's, if running
        workers = self._pool.begin_shutdown(cancel_futures)
        if not wait:
            return False
        done = _join_workers(self._pool, workers, deadline)
        if ticker is not None:
            ticker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            done = done and not ticker.is_alive()
        _runtime.reap()
        return done

    def resize(self, max_workers: Optional[int] = None,
               min_workers: Optional[int] = None) -> None:
        """Change the worker limits while the executor runs.  Surplus workers exit when
        they are next idle (idle ones at once); more workers start on demand, and at
        once for work already queued.  Arguments left as None keep their value."""
        pool = self._pool
        pool.resize(_config.with_limits(pool.config, max_workers, min_workers))
        self._max_workers = pool.max_workers

    def stats(self) -> ExecutorStats:
        """A snapshot of this executor's workers and task counts (cheap, no lock)."""
        workers, idle, busy, pending, submitted, completed, failed, seceded = self._pool.counts()
        rt = _runtime.stats()
        pool = self._pool
        adapt = pool.adapt
        return ExecutorStats(
            workers=workers, idle=idle, busy=busy, peak_workers=pool.peak_workers,
            pending=pending, submitted=submitted, completed=completed, failed=failed,
            threads_created=pool.threads_created, threads_exited=pool.threads_exited,
            stacks_reaped=rt["ms_reaped"], stack_bytes_mapped=rt["stack_bytes_mapped"],
            seceded=seceded,
            limit=None if adapt is None else pool.cap,
            throughput=0.0 if adapt is None else adapt.throughput,
            limit_reason="" if adapt is None else adapt.reason)


    def __enter__(self) -> "ThreadPoolExecutor":
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> Literal[False]:
        self.shutdown(wait=True)
        return False

    # The stdlib's private machinery is not ours: fail loudly if something calls it.
    def _adjust_thread_count(self) -> None:  # pragma: no cover
        raise NotImplementedError("gothreads.ThreadPoolExecutor manages its own workers")

    def _initializer_failed(self) -> None:  # pragma: no cover
        raise NotImplementedError("gothreads.ThreadPoolExecutor manages its own workers")

