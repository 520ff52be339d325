"""Test hooks: the one place tests (tests/, bench/) take what is not product API from,
as Go's export_test.go does.  The hooks themselves must live in the compiled modules
(they read their C state); this module names them for tests, and holds the runtime's
balance check that tests/conftest.py runs after every test.

Product code never imports this module (tests/test_package.py checks it).
"""
from __future__ import annotations

import gc
import threading
import time
from typing import Dict, List, Optional

from gothreads import _pool, _runtime, runtime

__all__ = [
    "check_atomic", "in_atomic", "gil_probe_check", "gil_probe_known", "raise_for_errno",
    "start_python_m", "Note", "unbalanced", "assert_balanced", "force_adaptive_limit",
]

# The pool's atomic-section probe (gothreads/_pool.pyx): count the depth of the
# sections, and read it (0 unless check_atomic(True)).
check_atomic = _pool.check_atomic
in_atomic = _pool.in_atomic
# The GIL probe (gothreads/gil_probe.c): whether it knows this version's GIL, and what it
# reads with the GIL held and just after releasing it.
gil_probe_check = _runtime.gil_probe_check
gil_probe_known = _runtime.gil_probe_known
# The exception the bridge raises for a runtime return value (a negative errno).
raise_for_errno = _runtime._raise_for_errno
# The bridge's own: one python M, a note.
start_python_m = _runtime.start_python_m
Note = _runtime.Note


def force_adaptive_limit(executor: object, limit: int) -> None:
    """Set an adaptive executor's limit and hold it there (the controller makes no
    probes; only its starvation rule still raises it)."""
    executor._pool.force_limit(limit)  # type: ignore[attr-defined]


def _problems(st: Dict[str, int], live: int) -> List[str]:
    out = []
    if st["ms_live"] > live:
        out.append(f"{st['ms_live'] - live} M(s) still live (created - exited)")
    if st["freem_len"]:
        out.append(f"{st['freem_len']} exited M(s) not reaped")
    in_use = st["stacks_mapped"] - st["stacks_cached"]
    if in_use != st["ms_live"] + st["freem_len"]:
        out.append(f"{in_use} stack(s) in use for {st['ms_live'] + st['freem_len']} unreaped M(s)")
    if st["stacks_cached"] > st["stack_cache_limit"]:
        out.append("more stacks cached than the cache's limit")
    return out


def unbalanced(live: int = 0, timeout: float = 10.0,
               threads: Optional[int] = None) -> Optional[str]:
    """None once the runtime's counters balance, else what is off (after ``timeout``
    seconds of collecting garbage and reaping; 0: look once, as things are).

    Balanced: at most ``live`` Ms still running (created - exited; the Ms of pools kept
    alive on purpose), every exited M reaped, a stack in use for each M not reaped and
    no other (nothing leaked past the cache), the cache within its limit; and, when
    ``threads`` is given, at most that many threads that ``threading`` knows."""
    deadline = time.monotonic() + timeout
    while True:
        st = runtime.stats()
        problems = _problems(st, live)
        n = threading.active_count()
        if threads is not None and n > threads:
            problems.append(f"{n - threads} thread(s) more than before: "
                            f"{[t.name for t in threading.enumerate()]}")
        if not problems:
            return None
        if time.monotonic() >= deadline:
            return "; ".join(problems) + f"\nruntime.stats(): {st}"
        gc.collect()  # an executor dropped without shutdown lets its workers go
        runtime.reap()
        time.sleep(0.01)


def assert_balanced(live: int = 0, timeout: float = 10.0, threads: Optional[int] = None) -> None:
    """:func:`unbalanced`, raising AssertionError with what is off."""
    problem = unbalanced(live, timeout, threads)
    assert problem is None, problem
