"""The gothreads runtime: Ms (worker threads) on stacks the runtime allocates, that
exit, and whose stacks are reaped once provably unused.

This is the layer under :class:`gothreads.ThreadPoolExecutor`; most programs never use
it directly.  Three kinds of M exist:

``"raw"``
    a ``clone()`` thread leaving through the assembly ``exitThread`` (Linux x86-64 and
    aarch64 only); it runs no Python and no libc.
``"pthread"``
    a joinable pthread on a runtime stack, reaped after ``pthread_tryjoin_np``.
``"python"``
    a pthread M that attaches a Python thread state and calls a Python callable.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Tuple

from gothreads import _runtime

__all__ = [
    "KINDS",
    "stats",
    "reap",
    "churn",
    "raw_supported",
    "stack_size_limits",
    "round_stack_size",
    "set_stack_cache_limit",
]

KINDS: Tuple[str, ...] = _runtime.KINDS


def stats() -> Dict[str, int]:
    """A snapshot of the runtime's counters.

    ``ms_created``, ``ms_exited``, ``ms_reaped``: Ms started, that reached their exit
    path, whose stack and record were reclaimed.  ``ms_live`` (created - exited) and
    ``freem_len`` (exited - reaped).  ``freem_pushbacks``: reap scans that found Ms whose
    stack was still in use and pushed them back.  ``stacks_mapped`` (in use or cached),
    ``stacks_cached``, ``stack_bytes_mapped`` (guard pages included),
    ``stack_cache_limit``.
    """
    return _runtime.stats()


def reap() -> int:
    """Reclaim every exited M whose stack is provably unused; return how many."""
    return _runtime.reap()


def churn(
    count: int,
    *,
    kind: str = "python",
    concurrency: int = 1,
    fn: Optional[Callable[[], object]] = None,
    stack_size: Optional[int] = None,
) -> float:
    """Create ``count`` Ms of ``kind``, at most ``concurrency`` in flight, let each exit,
    reap them all, and return the elapsed seconds.

    ``"python"`` Ms call ``fn`` (default: a no-op); raw and pthread Ms run a C body that
    checks its own stack was not written by anyone else.  The GIL is released while it
    runs.  Raises ``NotImplementedError`` for ``"raw"`` where the platform has no
    assembly exit path, ``TypeError``/``ValueError`` for bad arguments.
    """
    return _runtime.churn(count, kind=kind, concurrency=concurrency, fn=fn, stack_size=stack_size)


def raw_supported() -> bool:
    """Whether this build has raw Ms (an assembly exitThread for this OS/arch)."""
    return _runtime.raw_supported()


def stack_size_limits() -> Tuple[int, int]:
    """The smallest and largest stack size (bytes) an M accepts."""
    return _runtime.stack_size_limits()


def round_stack_size(stack_size: Optional[int]) -> int:
    """The stack size an M would get for ``stack_size`` (``None``/0: the default, as for a
    normal pthread), page-rounded.  Raises ``ValueError`` outside the limits."""
    return _runtime.round_stack_size(stack_size)


def set_stack_cache_limit(limit: int) -> None:
    """Keep at most ``limit`` (0-256) freed stacks for reuse; unmap the surplus now."""
    _runtime.set_stack_cache_limit(limit)
