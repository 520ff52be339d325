"""The benchmark scenarios, in one place: ``python -m gothreads`` and the pytest-benchmark
suites in bench/ both run these, for ``concurrent.futures.ThreadPoolExecutor`` and
``gothreads.ThreadPoolExecutor`` alike.

Each timed scenario is ``fn(Executor, n) -> seconds per operation``; it builds its own
executor, warms it up, and shuts it down.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import os
import threading
import time
from typing import Callable, Dict, List, NamedTuple, Optional, Type

import gothreads
from gothreads import runtime

ExecutorType = Type[cf.ThreadPoolExecutor]
IMPLS: Dict[str, ExecutorType] = {
    "stdlib": cf.ThreadPoolExecutor,
    "gothreads": gothreads.ThreadPoolExecutor,
}


def noop(*_: object) -> None:
    pass


def seq_submit(Executor: ExecutorType, n: int) -> float:
    """Sequential ``submit(noop).result()`` on a 1-worker pool."""
    with Executor(1) as ex:
        ex.submit(noop).result()
        t0 = time.perf_counter()
        for _ in range(n):
            ex.submit(noop).result()
        return (time.perf_counter() - t0) / n


def bulk_submit(Executor: ExecutorType, n: int) -> float:
    """``n`` x ``submit(noop)``, then wait for all, 4 workers."""
    with Executor(4) as ex:
        cf.wait([ex.submit(noop) for _ in range(8)])
        t0 = time.perf_counter()
        cf.wait([ex.submit(noop) for _ in range(n)])
        return (time.perf_counter() - t0) / n


def map_noop(Executor: ExecutorType, n: int) -> float:
    """``list(ex.map(noop, range(n)))``, 4 workers."""
    with Executor(4) as ex:
        list(ex.map(noop, range(8)))
        t0 = time.perf_counter()
        list(ex.map(noop, range(n)))
        return (time.perf_counter() - t0) / n


def _run_async(Executor: ExecutorType, n: int, to_thread: bool) -> float:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        ex = Executor(4)
        loop.set_default_executor(ex)
        call = (lambda: asyncio.to_thread(noop)) if to_thread else (
            lambda: loop.run_in_executor(ex, noop))
        await call()
        t0 = time.perf_counter()
        for _ in range(n):
            await call()
        return (time.perf_counter() - t0) / n

    return asyncio.run(main())


def asyncio_run_in_executor(Executor: ExecutorType, n: int) -> float:
    """``await loop.run_in_executor(ex, noop)``, sequentially."""
    return _run_async(Executor, n, to_thread=False)


def asyncio_to_thread(Executor: ExecutorType, n: int) -> float:
    """``await asyncio.to_thread(noop)`` with ex as the loop's default executor."""
    return _run_async(Executor, n, to_thread=True)


NUMPY_CHUNK = 200_000


def _sort_in_place(chunk) -> None:
    chunk.sort()  # numpy releases the GIL while it sorts


def numpy_sort(Executor: Optional[ExecutorType], n: int) -> float:
    """Sort ``n`` chunks of 200k floats in place (numpy releases the GIL), one worker
    per CPU; ``Executor=None``: serially, on the calling thread.  The chunks are made
    and copied before the clock starts, so only sorting is timed."""
    import numpy as np

    rng = np.random.default_rng(42)
    chunks = [rng.random(NUMPY_CHUNK) for _ in range(n)]
    if Executor is None:
        t0 = time.perf_counter()
        for c in chunks:
            _sort_in_place(c)
        return (time.perf_counter() - t0) / n
    with Executor(os.cpu_count() or 1) as ex:
        list(ex.map(_sort_in_place, [c.copy() for c in chunks[:2]]))
        t0 = time.perf_counter()
        list(ex.map(_sort_in_place, chunks))
        return (time.perf_counter() - t0) / n


def _thread_noop() -> None:
    pass


def churn_threading(n: int) -> float:
    """``threading.Thread(target=noop).start(); join()``."""
    t0 = time.perf_counter()
    for _ in range(n):
        t = threading.Thread(target=_thread_noop)
        t.start()
        t.join()
    return (time.perf_counter() - t0) / n


def churn_python_m(n: int) -> float:
    """A python M: create, run a no-op callable, exit, reap."""
    return runtime.churn(n, kind="python") / n


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class BurstResult(NamedTuple):
    threads_before: int
    threads_peak: int
    threads_after_idle: int
    stack_bytes_after_idle: int


def burst_then_idle(Executor: ExecutorType, width: int = 64, idle: float = 1.0) -> BurstResult:
    """``width`` blocking tasks at once, then ``idle`` seconds with nothing to do.
    gothreads pools get ``idle_timeout=idle/4``; their template thread leaves 0.5 s
    after the last worker, so ``idle`` should be 1 s or more."""
    kwargs = {"idle_timeout": idle / 4} if Executor is gothreads.ThreadPoolExecutor else {}
    before = os_threads()
    ex = Executor(width, **kwargs)
    gate = threading.Barrier(width + 1)
    fs = [ex.submit(gate.wait, 30) for _ in range(width)]
    gate.wait(30)
    cf.wait(fs)
    peak = os_threads()
    time.sleep(idle)
    runtime.reap()
    after = os_threads()
    stack = runtime.stats()["stack_bytes_mapped"]
    ex.shutdown()
    return BurstResult(before, peak, after, stack)


class Scenario(NamedTuple):
    name: str
    run: Callable[[ExecutorType, int], float]
    n_full: int
    n_quick: int
    goal: float  # gothreads/stdlib time ratio to reach (lower is better)


SCENARIOS: List[Scenario] = [
    Scenario("submit(noop).result(), 1 worker", seq_submit, 5000, 1000, 0.2),
    Scenario("submit(noop) x N, wait all, 4 workers", bulk_submit, 100_000, 10_000, 0.1),
    Scenario("list(map(noop, range(N))), 4 workers", map_noop, 100_000, 10_000, 0.1),
    Scenario("await run_in_executor(ex, noop)", asyncio_run_in_executor, 3000, 500, 0.5),
    Scenario("await asyncio.to_thread(noop)", asyncio_to_thread, 3000, 500, 0.5),
    Scenario("numpy sort chunks, 1 worker/CPU", numpy_sort, 64, 32, 1 / 0.95),
]
