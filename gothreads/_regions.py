"""Blocking regions (Go's handoff): ``blocking``, ``secede``/``rejoin``, and
``exit_thread``, the calls a task makes about its own worker; and the region that a
wait under ``handoff_on_wait`` runs in (``handoff``).  The pool's side is
``Pool.secede``/``Pool.rejoin`` (gothreads/_pool.pyx)."""
from __future__ import annotations

import contextlib
from typing import ContextManager, Optional

from gothreads import _pool
from gothreads._worker import current_slot, task_slot


def exit_thread() -> None:
    """Make the gothreads worker running the current task exit once the task returns,
    instead of going back to its pool.

    For tasks that change per-thread OS state: ``os.sched_setaffinity(0, ...)``,
    ``os.unshare``/``os.setns``, the signal mask, thread-local C library state.  The
    task's result is delivered as usual; the pool starts a fresh worker when it needs
    one, and fresh workers never inherit such state (they are created by a clean
    template thread).  Raises ``RuntimeError`` outside a gothreads worker.
    """
    task_slot("exit_thread").exit_after = True


def blocking_slot(pool: Optional[_pool.Pool]) -> Optional[_pool.Slot]:
    """The slot of the calling worker when it runs a task of ``pool`` outside a
    blocking region (a wait there should hand its slot off), else None."""
    slot = current_slot()
    if slot is None or slot.seceded or slot.pool is not pool:
        return None
    return slot


def handoff(pool: Optional[_pool.Pool], timeout: Optional[float]) -> ContextManager[None]:
    """What a wait on ``pool``'s futures runs in under handoff_on_wait: a blocking
    region when a task of ``pool`` waits with no timeout (a timed wait ends anyway,
    and holds its worker as in the stdlib), else nothing."""
    if timeout is None and blocking_slot(pool) is not None:
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
        slot = task_slot("blocking")
        if not slot.seceded:
            slot.pool.secede(slot)
            self._slot = slot

    def __exit__(self, *exc: object) -> None:
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.pool.rejoin(slot)


def secede() -> None:
    """Begin a blocking region that ends with :func:`rejoin` (or when the task
    returns): ``gothreads.blocking()`` as two calls, as dask.distributed's ``secede``
    and ``rejoin`` are.  Raises ``RuntimeError`` outside a task of a gothreads
    ThreadPoolExecutor, or inside a blocking region."""
    slot = task_slot("secede")
    if slot.seceded:
        raise RuntimeError("gothreads.secede(): this task is already in a blocking region")
    slot.pool.secede(slot)


def rejoin() -> None:
    """End the blocking region that :func:`secede` began: the task counts against
    ``max_workers`` again, at once (see :class:`blocking`).  Raises
    ``RuntimeError`` outside a task of a gothreads ThreadPoolExecutor, or outside a
    blocking region."""
    slot = task_slot("rejoin")
    if not slot.seceded:
        raise RuntimeError("gothreads.rejoin(): this task is not in a blocking region")
    slot.pool.rejoin(slot)
