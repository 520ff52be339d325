"""The futures gothreads returns: ``concurrent.futures.Future`` with lock-free state
(gothreads._pool.FutureCore holds it, and completes it), and the futures of an
executor made with ``handoff_on_wait=True``, whose waits are blocking regions."""
from __future__ import annotations

import threading
from concurrent.futures import _base
from typing import Any, Callable, List, Optional, TypeVar

from gothreads import _pool, _runtime
from gothreads._regions import blocking_slot, handoff

_T = TypeVar("_T")
_R = TypeVar("_R")

Future = _base.Future
LOGGER = _base.LOGGER


def _lazy_list(slot: str) -> property:
    """A list attribute made on first use (gothreads._pool.future_list)."""
    def get(self: Any) -> List[Any]:
        return _pool.future_list(self, slot)

    def set_(self: Any, value: List[Any]) -> None:
        setattr(self, slot, value)

    return property(get, set_)


class _Future(_pool.FutureCore, Future[_T]):
    """The futures gothreads returns: a ``concurrent.futures.Future`` that is cheaper to
    make, complete and wait for.

    - Its state is C fields (gothreads._pool.FutureCore, its base), set when it is
      made, so it has no ``__init__`` of its own.
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

    __slots__ = ()

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
        token = _runtime.spin_for_result(self, timeout) if self._gt_hot else None
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
            _runtime.result_returned()

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

    @classmethod
    def for_pool(cls) -> "type[_HandoffFuture[Any]]":
        """A subclass of its own for one executor, bound to its pool by bind_pool
        once the pool exists (the pool is made with its future type)."""
        return type("Future", (cls,), {"__slots__": ()})

    @classmethod
    def bind_pool(cls, pool: _pool.Pool) -> None:
        cls._gt_pool = pool

    def _spin_then(self, wait: Callable[["Future[_T]", Optional[float]], _R],
                   timeout: Optional[float]) -> _R:
        with handoff(self._gt_pool, timeout):
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
                blocking_slot(self._gt_pool) is not None):
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
        with handoff(self._pool, timeout):
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
