"""A pool's worker as ``threading`` sees it: a Thread that its pool starts on a python M
(gothreads.runtime), registered with ``threading`` under the stdlib's names, so that
``threading.current_thread()`` and ``threading.enumerate()`` see it while it lives and
forget it when it exits.

The pool (gothreads/_pool.pyx, ``Slot``) drives a worker through ``launch``,
``discard`` and ``lost_in_fork``, and the worker's thread calls back into the pool
through its slot; nothing else crosses.
"""
from __future__ import annotations

import sys
import _thread
import threading
from concurrent.futures import _base
from typing import Optional

from gothreads import _pool, _runtime

LOGGER = _base.LOGGER

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

    def __init__(self, slot: _pool.Slot) -> None:
        # Named when it is launched: the name holds its index in the pool.
        super().__init__(name=slot.pool.prefix, daemon=False)
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

    def has_exited(self) -> bool:
        """Its thread has ended (or never ran and never will)."""
        return self._done.is_set()

    def in_region(self) -> bool:
        """It runs a task inside a blocking region (gothreads.blocking)."""
        slot = self._slot
        return slot is not None and bool(slot.seceded)

    # -- what the pool calls ---------------------------------------------------------

    def launch(self, name: str, stack_size: Optional[int]) -> None:
        """Name the worker and start its thread on a python M; raises when the M cannot
        be made (the pool then drops the worker)."""
        self._name = name
        _runtime.start_python_m(self._bootstrap_m, stack_size, self._start_failed)

    def discard(self) -> None:
        """The pool is done with this worker, which never ran: it is over, and the
        worker <-> slot cycle is broken, so that both go by reference count."""
        self._done.set()
        self._slot = None

    def lost_in_fork(self) -> None:
        """In a fork child: this worker's thread does not exist there."""
        self._done = threading.Event()
        self._done.set()

    # -- on the worker's own thread --------------------------------------------------

    def _bootstrap_m(self) -> None:
        """The body of the worker's python M."""
        slot = self._slot
        assert slot is not None  # None only once this thread has ended
        pool = slot.pool
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
            item = pool.drop(slot)
            if item is not None:
                _pool.fail_item(item, _pool.start_error(exc))
            try:
                LOGGER.critical("Exception starting a worker", exc_info=True)
            except BaseException:
                pass
            del exc, item
        else:
            pool.worker_main(slot)
        finally:
            self._unregister()

    def _start_failed(self, exc: BaseException) -> None:
        """The M could not run _bootstrap_m at all (out of memory for its first frame):
        as when _register fails, its first task goes to another worker or fails."""
        if self._started.is_set():
            raise exc  # it ran: reported as any error escaping an M's body
        slot = self._slot
        if slot is not None:
            item = slot.pool.drop(slot)
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


def current_slot() -> Optional[_pool.Slot]:
    """The pool slot of the gothreads worker running the calling task, else None."""
    w = threading.current_thread()
    if not isinstance(w, _Worker) or w._done.is_set():
        return None
    slot = w._slot
    return slot if slot is not None and slot.busy else None


def task_slot(what: str) -> _pool.Slot:
    """current_slot(), or RuntimeError outside a task of a gothreads worker."""
    slot = current_slot()
    if slot is None:
        raise RuntimeError(f"gothreads.{what}() must be called from a task running "
                           "on a gothreads ThreadPoolExecutor worker")
    return slot
