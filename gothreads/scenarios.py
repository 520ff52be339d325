"""The benchmark scenarios, in one place: ``python -m gothreads`` and the pytest-benchmark
suites in bench/ both run these, for ``concurrent.futures.ThreadPoolExecutor`` and
``gothreads.ThreadPoolExecutor`` alike.

Each timed scenario is ``fn(Executor, n) -> Measure``: wall and CPU time per operation
(CPU: the whole process, every thread, so a spinning waiter counts), and for the
request-shaped loads the latency percentiles.  It builds its own executor, warms it up,
and shuts it down.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import os
import random
import statistics
import threading
import time
from typing import Any, Awaitable, Callable, Dict, List, NamedTuple, Optional, Type

import gothreads
from gothreads import runtime

ExecutorType = Type[cf.ThreadPoolExecutor]
IMPLS: Dict[str, ExecutorType] = {
    "stdlib": cf.ThreadPoolExecutor,
    "gothreads": gothreads.ThreadPoolExecutor,
}


def noop(*_: object) -> None:
    pass


def work_50us() -> None:
    """50 us of Python work (a task that holds the GIL while it computes)."""
    end = time.perf_counter() + 50e-6
    while time.perf_counter() < end:
        pass


class Measure(NamedTuple):
    wall: float                  # seconds per operation
    cpu: float                   # CPU seconds of the whole process per operation
    p50: Optional[float] = None  # request latency, for the request-shaped loads
    p99: Optional[float] = None


class Clock:
    """Wall and process CPU time from construction to ``per_op(n)``."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def per_op(self, n: int, latencies: Optional[List[float]] = None) -> Measure:
        wall = (time.perf_counter() - self.wall) / n
        cpu = (time.process_time() - self.cpu) / n
        if not latencies:
            return Measure(wall, cpu)
        q = statistics.quantiles(latencies, n=100)
        return Measure(wall, cpu, statistics.median(latencies), q[98])


def seq_submit(Executor: ExecutorType, n: int) -> Measure:
    """Sequential ``submit(noop).result()`` on a 1-worker pool, after n/4 warm-up
    round trips (the spin budgets and the stack cache settle)."""
    with Executor(1) as ex:
        for _ in range(max(200, n // 4)):
            ex.submit(noop).result()
        clock = Clock()
        for _ in range(n):
            ex.submit(noop).result()
        return clock.per_op(n)


def seq_submit_hogged(Executor: ExecutorType, n: int) -> Measure:
    """seq_submit while another process keeps one CPU busy (a crowded machine: spinning
    must not make things worse)."""
    import subprocess
    import sys

    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.05)
        return seq_submit(Executor, n)
    finally:
        hog.kill()
        hog.wait()


def bulk_submit(Executor: ExecutorType, n: int) -> Measure:
    """``n`` x ``submit(noop)``, then wait for all, 4 workers."""
    with Executor(4) as ex:
        cf.wait([ex.submit(noop) for _ in range(1000)])
        clock = Clock()
        cf.wait([ex.submit(noop) for _ in range(n)])
        return clock.per_op(n)


def map_noop(Executor: ExecutorType, n: int) -> Measure:
    """``list(ex.map(noop, range(n)))``, 4 workers."""
    with Executor(4) as ex:
        list(ex.map(noop, range(1000)))
        clock = Clock()
        list(ex.map(noop, range(n)))
        return clock.per_op(n)


def _run_async(Executor: ExecutorType, n: int, to_thread: bool) -> Measure:
    async def main() -> Measure:
        loop = asyncio.get_running_loop()
        ex = Executor(4)
        loop.set_default_executor(ex)
        call: Callable[[], Awaitable[None]]
        if to_thread:
            call = lambda: asyncio.to_thread(noop)
        else:
            call = lambda: loop.run_in_executor(ex, noop)
        for _ in range(max(100, n // 4)):
            await call()
        clock = Clock()
        for _ in range(n):
            await call()
        return clock.per_op(n)

    return asyncio.run(main())


def asyncio_run_in_executor(Executor: ExecutorType, n: int) -> Measure:
    """``await loop.run_in_executor(ex, noop)``, sequentially."""
    return _run_async(Executor, n, to_thread=False)


def asyncio_to_thread(Executor: ExecutorType, n: int) -> Measure:
    """``await asyncio.to_thread(noop)`` with ex as the loop's default executor."""
    return _run_async(Executor, n, to_thread=True)


def _requests(ex: cf.Executor, task: Callable[[], None], period: float, n: int,
              lat: List[float]) -> None:
    """n requests ``ex.submit(task).result()``, one every ``period`` seconds (none
    waits when the last ran late); appends each one's latency, submit to result."""
    due = time.perf_counter()
    for _ in range(n):
        due += period
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        t = time.perf_counter()
        ex.submit(task).result()
        lat.append(time.perf_counter() - t)


def paced(rate: int, task: Callable[[], None]) -> Callable[[ExecutorType, int], Measure]:
    """One client doing ``submit(task).result()`` at a steady ``rate`` per second, 4
    workers: a server's request path.  Latency is from submit to result."""
    def run(Executor: ExecutorType, n: int) -> Measure:
        with Executor(4) as ex:
            for _ in range(20):
                ex.submit(task).result()
            lat: List[float] = []
            clock = Clock()
            _requests(ex, task, 1.0 / rate, n, lat)
            return clock.per_op(n, lat)

    run.__doc__ = f"submit({task.__name__}).result() at {rate}/s"
    return run


PAIRED_BLOCKS = 10


def paced_paired(rate: int, task: Callable[[], None]) -> Callable[[int], Dict[str, Measure]]:
    """The paced load for both executors at once, in alternating blocks (ABBA...), so
    that both see the same state of the machine.  On a shared VM the cost of a kernel
    wakeup changes by 2-3x from one second to the next; runs of one executor after
    the other compare those states as much as the executors.  Each executor gets
    PAIRED_BLOCKS blocks of n / PAIRED_BLOCKS requests; its CPU is the process CPU
    during its blocks (the other pool's workers sleep meanwhile)."""
    def run(n: int) -> Dict[str, Measure]:
        per = max(1, n // PAIRED_BLOCKS)
        pools = {impl: Executor(4) for impl, Executor in IMPLS.items()}
        try:
            for ex in pools.values():
                for _ in range(20):
                    ex.submit(task).result()
            wall = dict.fromkeys(pools, 0.0)
            cpu = dict.fromkeys(pools, 0.0)
            lat: Dict[str, List[float]] = {impl: [] for impl in pools}
            for b in range(PAIRED_BLOCKS):
                order = list(pools) if b % 2 == 0 else list(pools)[::-1]
                for impl in order:
                    w0, c0 = time.perf_counter(), time.process_time()
                    _requests(pools[impl], task, 1.0 / rate, per, lat[impl])
                    wall[impl] += time.perf_counter() - w0
                    cpu[impl] += time.process_time() - c0
        finally:
            for ex in pools.values():
                ex.shutdown()
        total = per * PAIRED_BLOCKS
        out = {}
        for impl in pools:
            q = statistics.quantiles(lat[impl], n=100)
            out[impl] = Measure(wall[impl] / total, cpu[impl] / total,
                                statistics.median(lat[impl]), q[98])
        return out

    run.__doc__ = f"submit({task.__name__}).result() at {rate}/s, both executors in turn"
    return run


def clients(Executor: ExecutorType, n: int) -> Measure:
    """8 client threads, each thinking 0-2 ms (uniform, seeded) between
    ``submit(noop).result()`` calls, on 32 workers: sporadic work from many sources."""
    per_client = max(1, n // 8)
    lat: List[float] = []
    with Executor(32) as ex:
        for _ in range(20):
            ex.submit(noop).result()
        start = threading.Barrier(9)

        def client(seed: int) -> None:
            rng = random.Random(seed)
            mine = []
            start.wait()
            for _ in range(per_client):
                time.sleep(rng.uniform(0, 0.002))
                t = time.perf_counter()
                ex.submit(noop).result()
                mine.append(time.perf_counter() - t)
            lat.extend(mine)

        ts = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        clock = Clock()
        start.wait()
        for t in ts:
            t.join()
        return clock.per_op(8 * per_client, lat)


NUMPY_CHUNK = 200_000


def _sort_in_place(chunk: Any) -> None:
    chunk.sort()  # numpy releases the GIL while it sorts


def numpy_sort(Executor: Optional[ExecutorType], n: int) -> Measure:
    """Sort ``n`` chunks of 200k floats in place (numpy releases the GIL), one worker
    per CPU; ``Executor=None``: serially, on the calling thread.  The chunks are made
    and copied before the clock starts, so only sorting is timed."""
    import numpy as np

    rng = np.random.default_rng(42)
    chunks = [rng.random(NUMPY_CHUNK) for _ in range(n)]
    if Executor is None:
        clock = Clock()
        for c in chunks:
            _sort_in_place(c)
        return clock.per_op(n)
    with Executor(os.cpu_count() or 1) as ex:
        list(ex.map(_sort_in_place, [c.copy() for c in chunks[:2]]))
        clock = Clock()
        list(ex.map(_sort_in_place, chunks))
        return clock.per_op(n)


def _thread_noop() -> None:
    pass


def churn_threading(n: int) -> Measure:
    """``threading.Thread(target=noop).start(); join()``."""
    clock = Clock()
    for _ in range(n):
        t = threading.Thread(target=_thread_noop)
        t.start()
        t.join()
    return clock.per_op(n)


def churn_python_m(n: int) -> Measure:
    """A python M: create, run a no-op callable, exit, reap."""
    clock = Clock()
    runtime.churn(n, kind="python")
    return clock.per_op(n)


def os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def thread_wakeups() -> Dict[str, int]:
    """Each thread's voluntary context switches (its sleeps so far), by "tid name",
    for every thread of the process but the caller."""
    out = {}
    me = threading.get_native_id()
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == me:
            continue
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/self/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        out[f"{tid} {name}"] = int(line.split()[1])
        except OSError:
            pass  # the thread exited meanwhile
    return out


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
    quiet_wakeups: int       # wakeups of the pool's threads in the next QUIET_S of idle
    quiet_cpu_us: float      # process CPU in that time


QUIET_S = 1.0


def burst_then_idle(Executor: ExecutorType, width: int = 64, idle: float = 1.0) -> BurstResult:
    """``width`` blocking tasks at once, then ``idle`` seconds with nothing to do, then
    QUIET_S more in which an idle pool should not wake at all.  gothreads pools get
    ``idle_timeout=idle/4``; their template thread leaves 0.5 s after the last worker,
    so ``idle`` should be 1 s or more."""
    kwargs: Dict[str, Any] = {"idle_timeout": idle / 4} if Executor is gothreads.ThreadPoolExecutor else {}
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
    w0, c0 = thread_wakeups(), time.process_time()
    time.sleep(QUIET_S)
    c1, w1 = time.process_time(), thread_wakeups()  # CPU first: reading /proc costs some
    ex.shutdown()
    woke = sum(n - w0[t] for t, n in w1.items() if t in w0)
    return BurstResult(before, peak, after, stack, woke, (c1 - c0) * 1e6)


class Scenario(NamedTuple):
    """A timed scenario and its goals: ratios gothreads/stdlib (lower is better) that
    the medians must reach, for wall time (or p50 latency, for request loads) and for
    CPU time per operation; None where a quantity has no goal."""
    name: str
    run: Callable[[ExecutorType, int], Measure]
    n_full: int
    n_quick: int
    goal_time: Optional[float]
    goal_cpu: Optional[float]
    # Runs both executors in one go, in alternating blocks (the main job uses it in
    # place of ``run`` for each round): for loads whose cost swings with the machine.
    paired: Optional[Callable[[int], Dict[str, Measure]]] = None
    # A stable identifier (the JSON's "id"); ``name`` is for display and may change.
    id: str = ""


SCENARIOS: List[Scenario] = [
    Scenario("submit(noop).result(), 1 worker", seq_submit, 20_000, 5_000, 0.1, 0.2,
             id="seq_submit"),
    Scenario("the same, another process hogging a CPU", seq_submit_hogged, 5000, 2000, 1.0, 1.0,
             id="seq_submit_hogged"),
    Scenario("submit(noop) x N, wait all, 4 workers", bulk_submit, 100_000, 50_000, 0.15, 0.15,
             id="bulk_submit"),
    Scenario("list(map(noop, range(N))), 4 workers", map_noop, 100_000, 50_000, 0.05, 0.05,
             id="map_noop"),
    Scenario("await run_in_executor(ex, noop)", asyncio_run_in_executor, 3000, 1000, 0.6, 1.0,
             id="asyncio_run_in_executor"),
    Scenario("await asyncio.to_thread(noop)", asyncio_to_thread, 3000, 1000, 0.6, 1.0,
             id="asyncio_to_thread"),
    *[Scenario(f"paced {rate}/s{label}", paced(rate, task), n_full, n_quick, 1.0, 1.0,
               paced_paired(rate, task), id=f"paced_{rate}_{task.__name__}")
      for task, label in ((noop, " submit(noop).result()"), (work_50us, ", 50 us of Python"))
      for rate, n_full, n_quick in ((200, 300, 100), (2000, 1500, 500), (10000, 4000, 1500))],
    Scenario("8 clients, 0-2 ms think, 32 workers", clients, 2400, 800, 1.0, 1.0, id="clients"),
    Scenario("numpy sort chunks, 1 worker/CPU", numpy_sort, 64, 32, 1 / 0.95, None,
             id="numpy_sort"),
]

# Request-shaped loads: their time column is the p50 latency of a request.
LATENCY_SCENARIOS = {sc.name for sc in SCENARIOS if sc.run is clients or sc.name.startswith("paced")}
