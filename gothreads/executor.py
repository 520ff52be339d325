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
"""
from __future__ import annotations

import collections
import contextlib
import itertools
import math
import os
import sys
import _thread
import threading
import time
import weakref
from concurrent.futures import _base
from concurrent.futures import thread as _stdlib_thread
from typing import (Any, Callable, ContextManager, Iterable, Iterator, List, Literal,
                    NamedTuple, Optional, Set, Tuple, TypeVar)

from gothreads import _pool, _runtime

_T = TypeVar("_T")
_R = TypeVar("_R")

__all__ = ["ThreadPoolExecutor", "BrokenThreadPool", "ExecutorStats", "exit_thread",
           "blocking", "secede", "rejoin"]

BrokenThreadPool = _stdlib_thread.BrokenThreadPool
Future = _base.Future
LOGGER = _base.LOGGER

# The smallest stack a worker may have: enough for CPython's own recursion limits to
# raise RecursionError before the guard page is hit.  Measured here with Python
# recursion and nested repr/json/pickle: 3.9 and 3.10 crash at 256 KiB (Python calls
# recurse in C), 3.12 at 256 KiB (C recursion limit 1500), 3.13 at 2 MiB (C recursion
# limit 10000); each survived twice its minimum below.
MIN_WORKER_STACK = (4 if sys.version_info >= (3, 13) else 1) * 1024 * 1024

_global_lock = threading.Lock()
_pools: "weakref.WeakSet[_pool.Pool]" = weakref.WeakSet()


def _default_max_workers() -> int:
    if sys.version_info >= (3, 13):
        return min(32, (os.process_cpu_count() or 1) + 4)
    return min(32, (os.cpu_count() or 1) + 4)


def _lazy_list(slot: str) -> property:
    """A list attribute made on first use (gothreads._pool.future_list)."""
    def get(self: Any) -> List[Any]:
        return _pool.future_list(self, slot)

    def set_(self: Any, value: List[Any]) -> None:
        setattr(self, slot, value)

    return property(get, set_)


class _Future(Future[_T]):
    """The futures gothreads returns: a ``concurrent.futures.Future`` that is cheaper to
    make, complete and wait for.

    - Its Condition and its two lists are made on first use (``_condition``,
      ``_waiters``, ``_done_callbacks`` are properties): a future that nobody waits on
      or cancels never makes its Condition, and a worker completes it with two
      attribute writes (gothreads._pool.finish_future says why that is safe).
      ``add_done_callback`` needs no lock either (``append_if_unfinished``).
    - ``result()`` and ``exception()`` first spin a little, with the GIL released, for
      a result that is about to arrive (gothreads._runtime.spin_for_result), then wait
      as usual; ``done()``, ``running()``, ``cancelled()`` read the state without a
      lock, which under the GIL is one atomic read.
    """

    # Slots: the completion path reads and writes these from C, and waiters touch
    # them on every future, so they are fixed offsets in the object.
    __slots__ = ("_gt_cond", "_gt_waiters", "_gt_callbacks", "_gt_hot", "_state", "_result",
                 "_exception")

    def __init__(self) -> None:
        # Every attribute written without a lock exists from the start, so that no
        # such write allocates (see gothreads/_pool.pyx, futures).
        self._gt_cond: Any = None
        self._gt_waiters: Optional[List[Any]] = None
        self._gt_callbacks: Optional[List[Any]] = None
        self._gt_hot = False  # its task went to a worker that was awake (spin_for_result)
        self._state = _base.PENDING
        self._result: Any = None
        self._exception: Optional[BaseException] = None

    def _set_condition(self, cond: Any) -> None:
        self._gt_cond = cond

    _condition = property(_pool.future_condition, _set_condition)

    _waiters = _lazy_list("_gt_waiters")
    _done_callbacks = _lazy_list("_gt_callbacks")

    def add_done_callback(self, fn: Callable[["Future[_T]"], object]) -> None:
        callbacks = self._done_callbacks
        if _pool.append_if_unfinished(self, callbacks, fn):
            return
        try:
            fn(self)
        except Exception:
            LOGGER.exception("exception calling callback for %r", self)

    def cancelled(self) -> bool:
        return self._state in _CANCELLED

    def running(self) -> bool:
        return self._state == _base.RUNNING

    def done(self) -> bool:
        return self._state in _DONE

    def result(self, timeout: Optional[float] = None) -> _T:
        state = self._state
        if state == _base.FINISHED and self._exception is None:
            result: _T = self._result
            return result
        if state in _UNFINISHED:
            return self._spin_then(Future.result, timeout)
        return Future.result(self, timeout)

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        if self._state in _UNFINISHED:
            return self._spin_then(Future.exception, timeout)
        return Future.exception(self, timeout)

    def _spin_then(self, wait: Callable[["Future[_T]", Optional[float]], _R],
                   timeout: Optional[float]) -> _R:
        token = _runtime.spin_for_result(self, timeout)
        try:
            if token is None:
                return wait(self, timeout)
            if timeout is not None:
                timeout = max(0.0, timeout - token[1] / 1e9)  # less the time spun
            try:
                return wait(self, timeout)
            finally:
                _runtime.spin_missed(token)
        finally:
            _pool.result_returned()

    add_done_callback.__doc__ = Future.add_done_callback.__doc__
    cancelled.__doc__ = Future.cancelled.__doc__
    running.__doc__ = Future.running.__doc__
    done.__doc__ = Future.done.__doc__
    result.__doc__ = Future.result.__doc__
    exception.__doc__ = Future.exception.__doc__


# What repr() shows, as for the stdlib's futures.
_Future.__name__ = _Future.__qualname__ = "Future"

class _HandoffFuture(_Future[_T]):
    """The futures of an executor made with ``handoff_on_wait=True``: waiting for one
    inside a task of the same executor -- its ``result()``, ``exception()``, or
    ``concurrent.futures.wait()``/``as_completed()`` on it -- is a blocking region
    (gothreads.blocking), so tasks that wait for tasks they submitted cannot starve
    the pool.  A wait with a timeout is not: it cannot wait forever anyway, and it
    stays what it is in the stdlib, a wait that holds its worker.  Each such executor has its own
    subclass, which knows its pool."""

    __slots__ = ()
    _gt_pool: Optional[_pool.Pool] = None

    def _spin_then(self, wait: Callable[["Future[_T]", Optional[float]], _R],
                   timeout: Optional[float]) -> _R:
        with _handoff(self._gt_pool, timeout):
            return _Future._spin_then(self, wait, timeout)

    def _new_waiters(self) -> List[Any]:
        return _HandoffWaiters(self._gt_pool)

    @property
    def _waiters(self) -> List[Any]:
        return _pool.future_list(self, "_gt_waiters", self._new_waiters)

    @_waiters.setter
    def _waiters(self, value: List[Any]) -> None:
        self._gt_waiters = value


class _HandoffWaiters(list):  # type: ignore[type-arg]
    """A handoff future's waiters.  ``concurrent.futures.wait()`` and
    ``as_completed()`` append their waiter to each future, then sleep on its event:
    appended from a task of the future's own executor, the waiter's event becomes one
    whose wait() is a blocking region."""

    __slots__ = ("_gt_pool",)

    def __init__(self, pool: Optional[_pool.Pool]) -> None:
        super().__init__()
        self._gt_pool = pool

    def append(self, waiter: Any) -> None:
        event = getattr(waiter, "event", None)
        if (event is not None and not isinstance(event, _HandoffEvent) and
                _blocking_slot(self._gt_pool) is not None):
            waiter.event = _HandoffEvent(event, self._gt_pool)
        super().append(waiter)


class _HandoffEvent:
    """A waiter's threading.Event whose wait() is a blocking region (the rest is the
    Event's own: whoever sets it, before or after the swap, sets the same Event)."""

    __slots__ = ("_event", "_pool")

    def __init__(self, event: threading.Event, pool: Optional[_pool.Pool]) -> None:
        self._event = event
        self._pool = pool

    def wait(self, timeout: Optional[float] = None) -> bool:
        with _handoff(self._pool, timeout):
            return self._event.wait(timeout)

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()


_CANCELLED = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED)
_DONE = (_base.CANCELLED, _base.CANCELLED_AND_NOTIFIED, _base.FINISHED)
_UNFINISHED = (_base.PENDING, _base.RUNNING)


# The name of a Thread's OS thread handle: 3.13 "_handle", 3.14 "_os_thread_handle".
_HANDLE_ATTR = ("_os_thread_handle" if sys.version_info >= (3, 14) else
                "_handle" if sys.version_info >= (3, 13) else None)


class _Worker(threading.Thread):
    """What ``threading`` sees of a worker: a Thread that its pool starts on a python M.

    It is registered in ``threading._active`` while its thread lives, so it is what
    ``threading.current_thread()`` returns there; ``is_alive()`` and ``join()`` follow
    the M's life rather than threading's own bookkeeping."""

    # threading.Thread's own, which typeshed does not declare.
    _started: threading.Event

    def __init__(self, pool: _pool.Pool, slot: _pool.Slot) -> None:
        # Named when it joins the pool (Pool._enlist): the name holds its index.
        super().__init__(name=pool.prefix, daemon=False)
        self._pool = pool
        self._slot: Optional[_pool.Slot] = slot  # its state in the pool
        self._done = threading.Event()

    def start(self) -> None:
        raise RuntimeError("gothreads workers are started by their pool")

    def run(self) -> None:
        raise RuntimeError("gothreads workers are run by their pool")

    def is_alive(self) -> bool:
        return self._started.is_set() and not self._done.is_set()

    def join(self, timeout: Optional[float] = None) -> None:
        if threading.current_thread() is self:
            raise RuntimeError("cannot join current thread")
        self._done.wait(timeout)

    def __repr__(self) -> str:
        status = "stopped" if self._done.is_set() else ("started" if self._started.is_set() else "initial")
        return f"<{type(self).__name__}({self.name}, {status} {self.ident})>"

    # -- on the worker's own thread --------------------------------------------------

    def _bootstrap_m(self) -> None:
        """The body of the worker's python M."""
        slot = self._slot
        assert slot is not None  # None only once this thread has ended
        try:
            self._register()
            # (typeshed declares these private hooks for some versions only)
            if threading._trace_hook:  # type: ignore[attr-defined, unused-ignore]
                sys.settrace(threading._trace_hook)  # type: ignore[attr-defined, unused-ignore]
            if threading._profile_hook:  # type: ignore[attr-defined, unused-ignore]
                sys.setprofile(threading._profile_hook)  # type: ignore[attr-defined, unused-ignore]
        except BaseException as exc:
            # It never became a worker: its first task goes to another one, or fails
            # as the stdlib's does when its worker cannot start.
            # That comes before the report, which can fail the same way (out of memory).
            item = self._pool.drop(slot)
            if item is not None:
                _pool.fail_item(item, _pool.start_error(exc))
            try:
                LOGGER.critical("Exception starting a worker", exc_info=True)
            except BaseException:
                pass
            del exc, item
        else:
            self._pool.worker_main(slot)
        finally:
            self._unregister()

    def _start_failed(self, exc: BaseException) -> None:
        """The M could not run _bootstrap_m at all (out of memory for its first frame):
        as when _register fails, its first task goes to another worker or fails."""
        if self._started.is_set():
            raise exc  # it ran: reported as any error escaping an M's body
        slot = self._slot
        if slot is not None:
            item = self._pool.drop(slot)
            if item is not None:
                _pool.fail_item(item, _pool.start_error(exc))

    def _register(self) -> None:
        self._ident = threading.get_ident()
        self._native_id = threading.get_native_id()
        if _HANDLE_ATTR:
            # 3.13+: threading keeps an OS thread handle per Thread and checks it in a
            # fork child (threading._after_fork) when the fork came from this thread.
            setattr(self, _HANDLE_ATTR, _thread._make_thread_handle(self._ident))  # type: ignore[attr-defined]
        with threading._active_limbo_lock:  # type: ignore[attr-defined]
            threading._active[self._ident] = self  # type: ignore[attr-defined]
        self._started.set()
        try:
            _runtime.set_thread_name(self.name)
        except ValueError:
            pass

    def _unregister(self) -> None:
        with threading._active_limbo_lock:  # type: ignore[attr-defined]
            if threading._active.get(self._ident) is self:  # type: ignore[attr-defined]
                del threading._active[self._ident]  # type: ignore[attr-defined]
        self._slot = None  # the pool is done with it: no cycle left to collect
        self._done.set()


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


def exit_thread() -> None:
    """Make the gothreads worker running the current task exit once the task returns,
    instead of going back to its pool.

    For tasks that change per-thread OS state: ``os.sched_setaffinity(0, ...)``,
    ``os.unshare``/``os.setns``, the signal mask, thread-local C library state.  The
    task's result is delivered as usual; the pool starts a fresh worker when it needs
    one, and fresh workers never inherit such state (they are created by a clean
    template thread).  Raises ``RuntimeError`` outside a gothreads worker.
    """
    _task_slot("exit_thread").exit_after = True


def _current_slot() -> Optional[_pool.Slot]:
    """The pool slot of the gothreads worker running the calling task, else None."""
    w = threading.current_thread()
    if not isinstance(w, _Worker) or w._done.is_set():
        return None
    slot = w._slot
    return slot if slot is not None and slot.busy else None


def _task_slot(what: str) -> _pool.Slot:
    """_current_slot(), or RuntimeError outside a task of a gothreads worker."""
    slot = _current_slot()
    if slot is None:
        raise RuntimeError(f"gothreads.{what}() must be called from a task running "
                           "on a gothreads ThreadPoolExecutor worker")
    return slot


def _blocking_slot(pool: Optional[_pool.Pool]) -> Optional[_pool.Slot]:
    """The slot of the calling worker when it runs a task of ``pool`` outside a
    blocking region (a wait there should hand its slot off), else None."""
    slot = _current_slot()
    if slot is None or slot.seceded or slot.thread._pool is not pool:
        return None
    return slot


def _handoff(pool: Optional[_pool.Pool], timeout: Optional[float]) -> ContextManager[None]:
    """What a wait on ``pool``'s futures runs in under handoff_on_wait: a blocking
    region when a task of ``pool`` waits with no timeout (a timed wait ends anyway,
    and holds its worker as in the stdlib), else nothing."""
    if timeout is None and _blocking_slot(pool) is not None:
        return blocking()
    return contextlib.nullcontext()


class blocking:
    """``with gothreads.blocking():`` -- a blocking region in a task (Go's handoff).

    Inside, the worker does not count against its executor's ``max_workers``: queued
    work gets another worker (an idle one, or a new one up to ``max_threads``), so a
    task that waits -- for tasks it submitted to the same executor, for I/O, for a
    lock -- does not hold a slot that the work it waits for needs.  On the way out
    it counts against ``max_workers`` again at once, without waiting, even when that
    puts more than ``max_workers`` tasks outside regions for a while: no queued task
    starts until the count is back under it.  (Waiting for a slot there could hang a
    program that finishes without regions: the tasks that took the slots may wait for
    what this one does next.)  A region in an item of ``map`` lets the map's other
    items use the slot.  Regions nest (the inner ones do nothing).  Raises
    ``RuntimeError`` outside a task of a gothreads ThreadPoolExecutor.
    """

    __slots__ = ("_slot",)

    def __init__(self) -> None:
        self._slot: Optional[_pool.Slot] = None

    def __enter__(self) -> None:
        slot = _task_slot("blocking")
        if not slot.seceded:
            slot.thread._pool.secede(slot)
            self._slot = slot

    def __exit__(self, *exc: object) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.thread._pool.rejoin(slot)


def secede() -> None:
    """Begin a blocking region that ends with :func:`rejoin` (or when the task
    returns): ``gothreads.blocking()`` as two calls, as dask.distributed's ``secede``
    and ``rejoin`` are.  Raises ``RuntimeError`` outside a task of a gothreads
    ThreadPoolExecutor, or inside a blocking region."""
    slot = _task_slot("secede")
    if slot.seceded:
        raise RuntimeError("gothreads.secede(): this task is already in a blocking region")
    slot.thread._pool.secede(slot)


def rejoin() -> None:
    """End the blocking region that :func:`secede` began: the task counts against
    ``max_workers`` again, at once (see :class:`blocking`).  Raises
    ``RuntimeError`` outside a task of a gothreads ThreadPoolExecutor, or outside a
    blocking region."""
    slot = _task_slot("rejoin")
    if not slot.seceded:
        raise RuntimeError("gothreads.rejoin(): this task is not in a blocking region")
    slot.thread._pool.rejoin(slot)


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
    return not workers and not any(w.is_alive() or not w._done.is_set() for w in joined)


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
    ) -> None:
        # The stdlib's checks, in its order and with its messages.
        if max_workers is None:
            max_workers = _default_max_workers()
        if max_workers != max_workers:
            # The stdlib accepts NaN and then never runs a task.
            raise ValueError("max_workers must be a number, not NaN")
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        min_workers = _check_min_workers(min_workers, max_workers)
        idle_timeout = _check_idle_timeout(idle_timeout)
        stack_size = _check_stack_size(stack_size)
        propagate_context = _check_bool(propagate_context, "propagate_context")
        join_at_exit = _check_bool(join_at_exit, "join_at_exit")
        handoff_on_wait = _check_bool(handoff_on_wait, "handoff_on_wait")
        _check_max_threads(max_threads, max_workers)

        self._max_workers = max_workers
        self._thread_name_prefix = (thread_name_prefix or
                                    ("ThreadPoolExecutor-%d" % self._counter()))
        # (typeshed types it -> None before 3.14)
        self._initializer = initializer  # type: ignore[assignment, unused-ignore]
        self._initargs = initargs
        future_type: type = _Future
        if handoff_on_wait:
            # Its own future class, which knows the pool (set below).
            future_type = type("Future", (_HandoffFuture,), {"__slots__": ()})
        self._pool = _pool.Pool(max_workers, min_workers, idle_timeout, stack_size,
                                self._thread_name_prefix, initializer, initargs,
                                propagate_context, join_at_exit, future_type, _Worker,
                                max_threads, handoff_on_wait)
        self._max_threads = max_threads
        if handoff_on_wait:
            future_type._gt_pool = self._pool  # type: ignore[attr-defined]
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
                with _handoff(pool, None):
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
        workers = self._pool.begin_shutdown(cancel_futures)
        if not wait:
            return False
        done = _join_workers(self._pool, workers, deadline)
        _runtime.reap()
        return done

    def resize(self, max_workers: Optional[int] = None,
               min_workers: Optional[int] = None) -> None:
        """Change the worker limits while the executor runs.  Surplus workers exit when
        they are next idle (idle ones at once); more workers start on demand, and at
        once for work already queued.  Arguments left as None keep their value."""
        pool = self._pool
        new_max = pool.max_workers if max_workers is None else max_workers
        if max_workers is not None:
            if isinstance(new_max, bool) or not isinstance(new_max, int):
                raise TypeError(f"max_workers must be an int, not {type(new_max).__name__}")
            if new_max <= 0:
                raise ValueError("max_workers must be greater than 0")
        new_min = pool.min_workers if min_workers is None else min_workers
        new_min = _check_min_workers(new_min, new_max)
        _check_max_threads(self._max_threads, new_max)
        pool.resize(new_max, new_min, self._max_threads)
        self._max_workers = new_max

    def stats(self) -> ExecutorStats:
        """A snapshot of this executor's workers and task counts (cheap, no lock)."""
        workers, idle, busy, pending, submitted, completed, failed, seceded = self._pool.counts()
        rt = _runtime.stats()
        pool = self._pool
        return ExecutorStats(
            workers=workers, idle=idle, busy=busy, peak_workers=pool.peak_workers,
            pending=pending, submitted=submitted, completed=completed, failed=failed,
            threads_created=pool.threads_created, threads_exited=pool.threads_exited,
            stacks_reaped=rt["ms_reaped"], stack_bytes_mapped=rt["stack_bytes_mapped"],
            seceded=seceded)


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


def _check_min_workers(min_workers: object, max_workers: Any) -> int:
    if isinstance(min_workers, bool) or not isinstance(min_workers, int):
        raise TypeError(f"min_workers must be an int, not {type(min_workers).__name__}")
    if min_workers < 0:
        raise ValueError("min_workers must be 0 or greater")
    if min_workers > max_workers:
        raise ValueError("min_workers must not be greater than max_workers")
    return min_workers


def _check_max_threads(max_threads: object, max_workers: Any) -> None:
    if max_threads is None:
        return
    if isinstance(max_threads, bool) or not isinstance(max_threads, int):
        raise TypeError(f"max_threads must be an int or None, not {type(max_threads).__name__}")
    if max_threads < max_workers:
        raise ValueError("max_threads must not be less than max_workers")


def _check_idle_timeout(idle_timeout: Any) -> Optional[float]:
    if idle_timeout is None:
        return None
    if isinstance(idle_timeout, bool) or not isinstance(idle_timeout, (int, float)):
        raise TypeError(
            f"idle_timeout must be a number or None, not {type(idle_timeout).__name__}")
    if math.isnan(idle_timeout) or idle_timeout < 0:
        raise ValueError("idle_timeout must be 0 or greater, or None")
    if math.isinf(idle_timeout) or idle_timeout > threading.TIMEOUT_MAX:
        return None
    return float(idle_timeout)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return value


def _check_stack_size(stack_size: object) -> Optional[int]:
    if stack_size is None:
        # threading.stack_size() as the stdlib's threads get it, within what an M's
        # stack can be (a larger one gets the largest: the user asked for no size).
        size = threading.stack_size()
        if not size:
            return None
        lo, hi = _runtime.stack_size_limits()
        return min(max(size, lo, MIN_WORKER_STACK), hi)
    if isinstance(stack_size, bool) or not isinstance(stack_size, int):
        raise TypeError(f"stack_size must be an int or None, not {type(stack_size).__name__}")
    lo, hi = _runtime.stack_size_limits()
    lo = max(lo, MIN_WORKER_STACK)
    if not lo <= stack_size <= hi:
        raise ValueError(f"stack_size must be between {lo} and {hi} bytes, got {stack_size}")
    return stack_size
