"""An executor's configuration: every argument of ``ThreadPoolExecutor`` that the pool
runs with, checked in one place.

``make_config`` checks the constructor's arguments (the stdlib's checks first, in its
order and with its messages, then gothreads' own) and returns a ``PoolConfig``, which
``gothreads._pool.Pool`` takes as it is.  ``with_limits`` checks a ``resize()`` with the
same rules and returns the new configuration.  Adding an option: a field here, its check
in ``make_config``, its keyword in ``ThreadPoolExecutor.__init__``, and its use in the
pool (``Pool.__init__`` copies what the worker loop reads into C fields).
"""
from __future__ import annotations

import math
import os
import sys
import threading
from typing import Any, Callable, NamedTuple, Optional, Tuple, Union

from gothreads import _runtime

# The smallest stack a worker may have: enough for CPython's own recursion limits to
# raise RecursionError before the guard page is hit.  Measured here with Python
# recursion and nested repr/json/pickle: 3.9 and 3.10 crash at 256 KiB (Python calls
# recurse in C), 3.12 at 256 KiB (C recursion limit 1500), 3.13 at 2 MiB (C recursion
# limit 10000); each survived twice its minimum below.
MIN_WORKER_STACK = (4 if sys.version_info >= (3, 13) else 1) * 1024 * 1024


class PoolConfig(NamedTuple):
    """What a pool runs with, checked (see ``ThreadPoolExecutor`` for each meaning)."""

    max_workers: Union[int, float]
    min_workers: int
    idle_timeout: Optional[float]   # None: never
    stack_size: Optional[int]       # None: the runtime's default
    prefix: str
    initializer: Optional[Callable[..., object]]
    initargs: Tuple[Any, ...]
    propagate_context: bool
    join_at_exit: bool
    handoff_on_wait: bool
    max_threads: Optional[int]      # None: the pool's default ceiling
    adaptive: bool = False          # the pool picks how many tasks run (csrc/adapt.c)
    adaptive_start: int = 0         # the limit it starts from (adaptive)
    max_pending: Optional[int] = None       # queued tasks that make submit() wait
    pending_timeout: Optional[float] = None  # how long it waits (None: no limit)


# max_workers=None with adaptive=True: the ceiling under which the controller picks.
ADAPTIVE_MAX_WORKERS = 256


def default_max_workers() -> int:
    if sys.version_info >= (3, 13):
        return min(32, (os.process_cpu_count() or 1) + 4)
    return min(32, (os.cpu_count() or 1) + 4)


def make_config(max_workers: Any, prefix: str, initializer: Any, initargs: Any, *,
                min_workers: Any, idle_timeout: Any, stack_size: Any,
                propagate_context: Any, join_at_exit: Any, handoff_on_wait: Any,
                max_threads: Any, adaptive: Any = False, max_pending: Any = None,
                pending_timeout: Any = None) -> PoolConfig:
    """The constructor's arguments, checked; ``prefix`` is the final thread name
    prefix."""
    # The stdlib's checks, in its order and with its messages.
    if max_workers is None:
        max_workers = ADAPTIVE_MAX_WORKERS if adaptive is True else default_max_workers()
    if max_workers != max_workers:
        # The stdlib accepts NaN and then never runs a task.
        raise ValueError("max_workers must be a number, not NaN")
    if max_workers <= 0:
        raise ValueError("max_workers must be greater than 0")
    if initializer is not None and not callable(initializer):
        raise TypeError("initializer must be a callable")
    # Then gothreads' own, in the order of the keywords.
    min_workers = _check_min_workers(min_workers, max_workers)
    idle_timeout = _check_idle_timeout(idle_timeout)
    stack_size = _check_stack_size(stack_size)
    propagate_context = _check_bool(propagate_context, "propagate_context")
    join_at_exit = _check_bool(join_at_exit, "join_at_exit")
    handoff_on_wait = _check_bool(handoff_on_wait, "handoff_on_wait")
    _check_max_threads(max_threads, max_workers)
    adaptive = _check_bool(adaptive, "adaptive")
    max_pending = _check_max_pending(max_pending)
    pending_timeout = _check_pending_timeout(pending_timeout)
    # The controller starts where the stdlib's default would be.
    start = min(default_max_workers(), max_workers) if adaptive else 0
    return PoolConfig(
        max_workers=max_workers, min_workers=min_workers, idle_timeout=idle_timeout,
        stack_size=stack_size, prefix=prefix, initializer=initializer, initargs=initargs,
        propagate_context=propagate_context, join_at_exit=join_at_exit,
        handoff_on_wait=handoff_on_wait, max_threads=max_threads, adaptive=adaptive,
        adaptive_start=math.ceil(start), max_pending=max_pending,
        pending_timeout=pending_timeout)


def with_limits(config: PoolConfig, max_workers: Any = None,
                min_workers: Any = None) -> PoolConfig:
    """``config`` with new worker limits (``resize()``; None keeps a value).  A new
    max_workers must be an int, unlike the constructor's, which takes what the
    stdlib's takes."""
    if max_workers is None:
        max_workers = config.max_workers
    else:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int):
            raise TypeError(f"max_workers must be an int, not {type(max_workers).__name__}")
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
    if min_workers is None:
        min_workers = config.min_workers
    min_workers = _check_min_workers(min_workers, max_workers)
    _check_max_threads(config.max_threads, max_workers)
    return config._replace(max_workers=max_workers, min_workers=min_workers)


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


def _check_max_pending(max_pending: object) -> Optional[int]:
    if max_pending is None:
        return None
    if isinstance(max_pending, bool) or not isinstance(max_pending, int):
        raise TypeError(f"max_pending must be an int or None, not {type(max_pending).__name__}")
    if max_pending < 1:
        raise ValueError("max_pending must be 1 or greater, or None")
    return max_pending


def _check_pending_timeout(timeout: Any) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"pending_timeout must be a number or None, not {type(timeout).__name__}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError("pending_timeout must be 0 or greater, or None")
    if math.isinf(timeout) or timeout > threading.TIMEOUT_MAX:
        return None
    return float(timeout)


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
