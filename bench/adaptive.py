"""The benchmark that decides adaptive concurrency (issue 23): for each workload, a sweep
of fixed max_workers (the oracle: the best of them), then ``adaptive=True`` and the
stdlib's default executor on the same work, all in one run.

    python bench/adaptive.py [--quick] [--only A,C] [--json FILE] [--plot FILE.png]
                             [--bounded SECONDS]
    python bench/adaptive.py --replot FILE.json --plot FILE.png   (matplotlib needed)

Workloads (each task is one of these; a feeder keeps a backlog of BACKLOG tasks queued):

  A  1 ms of pure Python (holds the GIL)                       best: 1-2
  B  sha256 of 1 MiB (releases the GIL)                         best: the CPU count
  C  a 50 ms wait, no CPU                                       best: as many as allowed
  D  1 ms of Python, then a 20 ms wait                          best: about 20
  E  a request to a local server that serves 16 at a time, 10 ms each   best: 16
  F  the same server, whose service time grows 5% per request beyond 16 in it: best 16

Then phase changes (C, then A, then D on one adaptive executor: the limit and the
throughput over time, and each phase's throughput from 3 s after its change against
that workload's oracle), on/off bursts of C (threads after each pause), and with
--bounded, an endless producer against max_pending (RSS every few seconds).

Throughput is tasks finished per second after a warm-up; threads are the executor's
workers, sampled every 50 ms (the adaptive controller's own thread not counted); p99 is
the 99th percentile of a task's time from start to end; CPU per task is the process's
CPU time over the tasks finished.  The machine's load changes every number here: each
row's workloads run back to back in one process, and a ratio is between runs seconds
apart.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor as StdlibExecutor
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gothreads  # noqa: E402
from gothreads.scenarios import rss_kib  # noqa: E402

BACKLOG = 2000
SWEEP = [1, 2, 4, 8, 16, 32, 64, 128, 256]
CEILING = 256

# -- the tasks --------------------------------------------------------------------------


def python_ms(ms: float = 1.0) -> None:
    """``ms`` of this thread's CPU time in Python code (holds the GIL while it runs)."""
    end = time.thread_time() + ms / 1000
    while time.thread_time() < end:
        pass


_BLOB = os.urandom(1 << 20)


def task_a() -> None:
    python_ms(1.0)


def task_b() -> None:
    hashlib.sha256(_BLOB).digest()


def task_c() -> None:
    time.sleep(0.050)


def task_d() -> None:
    python_ms(1.0)
    time.sleep(0.020)


_conn = threading.local()
SERVER_PORT = 0


def request() -> None:
    s = getattr(_conn, "sock", None)
    if s is None or getattr(_conn, "port", None) != SERVER_PORT:
        s = socket.create_connection(("127.0.0.1", SERVER_PORT))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _conn.sock, _conn.port = s, SERVER_PORT
    s.sendall(b"x")
    if s.recv(1) != b"y":
        raise RuntimeError("server went away")


WORKLOADS: Dict[str, Callable[[], None]] = {
    "A": task_a, "B": task_b, "C": task_c, "D": task_d, "E": request, "F": request,
}
DESCRIBE = {
    "A": "1 ms of pure Python", "B": "sha256 of 1 MiB (GIL released)",
    "C": "50 ms waits", "D": "1 ms Python + 20 ms wait",
    "E": "local server, 16 at a time, 10 ms", "F": "server slows 5%/request beyond 16",
}


# -- the local server (a child process) ---------------------------------------------------

def serve(port_file: str, mode: str) -> None:
    """16 requests served at a time, 10 ms each; mode "F": each request beyond 16 in
    the server adds 5% to the service time of the ones it serves."""
    async def main() -> None:
        sem = asyncio.Semaphore(16)
        inflight = [0]

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while await reader.read(1):
                    inflight[0] += 1
                    async with sem:
                        excess = max(0, inflight[0] - 16) if mode == "F" else 0
                        await asyncio.sleep(0.010 * (1 + 0.05 * excess))
                    inflight[0] -= 1
                    writer.write(b"y")
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        with open(port_file, "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class Server:
    def __init__(self, mode: str) -> None:
        import tempfile
        fd, self.port_file = tempfile.mkstemp()
        os.close(fd)
        os.unlink(self.port_file)
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve",
                                      self.port_file, mode])
        deadline = time.monotonic() + 20
        while not os.path.exists(self.port_file) or not open(self.port_file).read():
            if time.monotonic() > deadline:
                raise RuntimeError("the local server did not start")
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        os.unlink(self.port_file)


# -- one run ------------------------------------------------------------------------------

class Feeder:
    """Keeps ``backlog`` tasks queued on ``ex`` (each finished task submits the next)
    until stopped; records each task's start-to-end time and when it finished."""

    def __init__(self, ex: Any, fn: Callable[[], None], backlog: int = BACKLOG) -> None:
        self.ex, self.fn = ex, fn
        self.stopped = False
        self.ends: List[float] = []
        self.spans: List[float] = []
        for _ in range(backlog):
            self.submit()

    def task(self) -> None:
        t0 = time.perf_counter()
        self.fn()
        t1 = time.perf_counter()
        self.spans.append(t1 - t0)
        self.ends.append(time.monotonic())

    def submit(self) -> None:
        if self.stopped:
            return
        try:
            self.ex.submit(self.task).add_done_callback(lambda f: self.submit())
        except RuntimeError:
            pass  # shut down

    def stop(self) -> None:
        self.stopped = True


def run(make: Callable[[], Any], fn: Callable[[], None], warm: float, measure: float,
        trace: Optional[List[Any]] = None) -> Dict[str, float]:
    ex = make()
    feeder = Feeder(ex, fn)
    t0 = time.monotonic()
    workers: List[int] = []
    cpu0 = n0 = None
    start = t0 + warm
    end = start + measure
    while True:
        now = time.monotonic()
        if cpu0 is None and now >= start:
            cpu0, n0 = time.process_time(), len(feeder.ends)
        if now >= end:
            break
        st = ex.stats() if hasattr(ex, "stats") else None
        nworkers = st.workers if st else len(ex._threads)
        if cpu0 is not None:
            workers.append(nworkers)
        if trace is not None and st is not None:
            trace.append((now, st.limit, nworkers, len(feeder.ends)))
        time.sleep(0.05)
    cpu = time.process_time() - cpu0
    ends = feeder.ends
    done = sum(1 for t in ends[n0:] if start <= t < end)
    spans = sorted(feeder.spans[n0:]) or [0.0]
    feeder.stop()
    ex.shutdown(wait=True, cancel_futures=True)
    return {
        "throughput": done / measure,
        "threads": statistics.mean(workers) if workers else 0.0,
        "threads_max": max(workers) if workers else 0,
        "p50_ms": spans[len(spans) // 2] * 1000,
        "p99_ms": spans[min(len(spans) - 1, int(len(spans) * 0.99))] * 1000,
        "cpu_us": cpu / max(done, 1) * 1e6,
    }


def gothreads_fixed(n: int) -> Callable[[], Any]:
    return lambda: gothreads.ThreadPoolExecutor(n)


def adaptive() -> Any:
    return gothreads.ThreadPoolExecutor(CEILING, adaptive=True)


# -- the report ---------------------------------------------------------------------------

def workload(name: str, quick: bool, say: Callable[[str], None]) -> Dict[str, Any]:
    global SERVER_PORT
    server = Server(name) if name in "EF" else None
    if server:
        SERVER_PORT = server.port
    fn = WORKLOADS[name]
    sweep = [1, 2, 4, 16, 64, 256] if quick else SWEEP
    warm, measure = (0.5, 1.0) if quick else (0.7, 2.0)
    try:
        fixed = {}
        for n in sweep:
            fixed[n] = run(gothreads_fixed(n), fn, warm, measure)
            say(f"  {name} max_workers={n}: {fixed[n]['throughput']:.0f}/s")
        best_n = max(fixed, key=lambda n: fixed[n]["throughput"])
        # the oracle: the fewest workers within 2% of the best throughput
        top = fixed[best_n]["throughput"]
        oracle_n = min(n for n in fixed if fixed[n]["throughput"] >= 0.98 * top)
        trace: List[Any] = []
        ad = run(adaptive, fn, 2.0 if quick else 4.0, 2.0 if quick else 4.0, trace)
        say(f"  {name} adaptive: {ad['throughput']:.0f}/s, {ad['threads']:.1f} threads")
        std = run(lambda: StdlibExecutor(), fn, warm, measure)
        say(f"  {name} stdlib default: {std['throughput']:.0f}/s")
    finally:
        if server:
            server.close()
    return {"workload": name, "oracle_workers": oracle_n, "oracle": fixed[oracle_n],
            "best_throughput": top, "fixed": {str(k): v for k, v in fixed.items()},
            "adaptive": ad, "adaptive_trace": trace, "stdlib_default": std}


def phases(oracles: Dict[str, float], quick: bool, say: Callable[[str], None]) -> Dict[str, Any]:
    """C, then A, then D on one adaptive executor; a feeder per phase."""
    seq = ["C", "A", "D"]
    length = 6.0 if quick else 8.0
    ex = adaptive()
    trace: List[Any] = []
    out: Dict[str, Any] = {"trace": trace, "phases": []}
    t_begin = time.monotonic()
    for name in seq:
        feeder = Feeder(ex, WORKLOADS[name])
        t0 = time.monotonic()
        while time.monotonic() - t0 < length:
            st = ex.stats()
            trace.append((time.monotonic() - t_begin, name, st.limit, st.workers,
                          len(feeder.ends)))
            time.sleep(0.05)
        feeder.stop()
        ends = feeder.ends
        after3 = [t for t in ends if t >= t0 + 3.0]
        x = len(after3) / (length - 3.0)
        ratio = x / oracles[name] if oracles.get(name) else float("nan")
        out["phases"].append({"workload": name, "throughput_after_3s": x, "ratio": ratio})
        say(f"  phase {name}: {x:.0f}/s from 3 s after the change, {ratio:.2f} of its oracle")
        # drain this phase's backlog before the next begins
        deadline = time.monotonic() + 30
        while ex.stats().pending and time.monotonic() < deadline:
            time.sleep(0.01)
    ex.shutdown(cancel_futures=True)
    return out


def bursts(quick: bool, say: Callable[[str], None]) -> Dict[str, Any]:
    """On/off bursts of C: the threads come back down after each pause (idle_timeout
    1 s here), and each burst's throughput."""
    ex = gothreads.ThreadPoolExecutor(CEILING, adaptive=True, idle_timeout=1.0)
    rows = []
    for i in range(2 if quick else 3):
        feeder = Feeder(ex, task_c)
        time.sleep(3.0)
        feeder.stop()
        x = len([t for t in feeder.ends if t >= feeder.ends[0] + 1.0]) / 2.0 if feeder.ends else 0
        peak = ex.stats().workers
        while ex.stats().pending or ex.stats().busy:  # the backlog drains
            time.sleep(0.01)
        time.sleep(1.5)
        after = ex.stats().workers
        rows.append({"burst": i, "throughput": x, "workers_in_burst": peak,
                     "workers_after_pause": after})
        say(f"  burst {i}: {x:.0f}/s with {peak} workers; {after} workers 1.5 s after "
            f"the backlog drained (idle_timeout 1 s)")
    ex.shutdown(cancel_futures=True)
    return {"bursts": rows}


def bounded(seconds: float, say: Callable[[str], None]) -> Dict[str, Any]:
    """An endless producer against max_pending=1000 (2 workers, 1 ms tasks): RSS flat."""
    ex = gothreads.ThreadPoolExecutor(2, max_pending=1000)
    stop = threading.Event()
    count = [0]

    def produce() -> None:
        while not stop.is_set():
            ex.submit(python_ms, 0.2)
            count[0] += 1

    t = threading.Thread(target=produce)
    t.start()
    samples = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        time.sleep(min(5.0, seconds / 6))
        samples.append((round(time.monotonic() - t0, 1), rss_kib(), len(ex._pool.queue)))
        say(f"  bounded: {samples[-1][0]} s, RSS {samples[-1][1]} KiB, "
            f"{samples[-1][2]} queued, {count[0]} submitted")
    stop.set()
    t.join()
    ex.shutdown(cancel_futures=True)
    return {"samples": samples, "submitted": count[0]}


def table(rows: List[Dict[str, Any]]) -> str:
    head = ("| workload | oracle: workers, tasks/s | adaptive: throughput/oracle, threads "
            "(max), p99/oracle, CPU/task / oracle | stdlib default: tasks/s, threads |\n"
            "|---|---|---|---|")
    out = [head]
    for r in rows:
        o, a, s = r["oracle"], r["adaptive"], r["stdlib_default"]
        out.append(
            f"| {r['workload']}: {DESCRIBE[r['workload']]} | {r['oracle_workers']}, "
            f"{o['throughput']:.0f} | {a['throughput'] / o['throughput']:.2f}, "
            f"{a['threads']:.1f} ({a['threads_max']}), {a['p99_ms'] / max(o['p99_ms'], 1e-9):.2f}, "
            f"{a['cpu_us'] / max(o['cpu_us'], 1e-9):.2f} | {s['throughput']:.0f}, "
            f"{s['threads']:.1f} |")
    return "\n".join(out)


def plot(path: str, ph: Dict[str, Any]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tr = ph["trace"]
    t = [r[0] for r in tr]
    fig, ax = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    # markers, not only lines: where the main thread got no GIL to sample, the gap shows
    style = dict(marker=".", markersize=3, linewidth=0.6)
    ax[0].plot(t, [r[2] for r in tr], label="limit", **style)
    ax[0].plot(t, [r[3] for r in tr], label="workers", alpha=0.7, **style)
    seen = set()
    for r in tr:
        if r[1] not in seen:
            seen.add(r[1])
            for a in ax:
                a.axvline(r[0], color="grey", linewidth=0.5)
            ax[0].annotate(r[1], (r[0], 1), xytext=(3, 3), textcoords="offset points")
    ax[0].set_yscale("log")
    ax[0].set_ylabel("tasks at once")
    ax[0].legend()
    xs, ts = [], []
    for i in range(5, len(tr)):
        if tr[i][1] == tr[i - 5][1]:
            xs.append((tr[i][4] - tr[i - 5][4]) / (tr[i][0] - tr[i - 5][0]))
            ts.append(tr[i][0])
    ax[1].plot(ts, xs, **style)
    ax[1].set_ylabel("tasks/s (250 ms)")
    ax[1].set_yscale("log")
    ax[1].set_xlabel("seconds (phases C, A, D; a gap: the sampling thread got no GIL)")
    fig.tight_layout()
    fig.savefig(path)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a shorter sweep and runs")
    ap.add_argument("--only", help="workloads, e.g. A,C (default: all)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--plot", metavar="FILE.png", help="the phase-change trace (matplotlib)")
    ap.add_argument("--bounded", type=float, default=0.0, metavar="SECONDS",
                    help="also run the endless producer against max_pending this long")
    ap.add_argument("--no-phases", action="store_true")
    ap.add_argument("--replot", metavar="FILE.json",
                    help="draw --plot from an earlier run's --json, and run nothing")
    ap.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(*args.serve)
        return 0
    if args.replot:
        with open(args.replot) as f:
            plot(args.plot or "adaptive.png", json.load(f)["phases"])
        return 0

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    names = (args.only or "A,B,C,D,E,F").split(",")
    say(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; each workload: a sweep "
        f"of fixed max_workers, then adaptive, then the stdlib's default")
    rows = []
    for name in names:
        rows.append(workload(name, args.quick, say))
    result: Dict[str, Any] = {"rows": rows, "cpus": os.cpu_count(),
                              "load": os.getloadavg()[0]}
    if not args.no_phases:
        oracles = {r["workload"]: r["best_throughput"] for r in rows}
        if all(k in oracles for k in "CAD"):
            result["phases"] = phases(oracles, args.quick, say)
            if args.plot:
                try:
                    plot(args.plot, result["phases"])
                except ImportError:
                    say("no matplotlib here: draw it later with --replot FILE.json --plot")
        result["bursts"] = bursts(args.quick, say)
    if args.bounded:
        result["bounded"] = bounded(args.bounded, say)
    print(table(rows))
    if "phases" in result:
        print("\nphase changes (throughput from 3 s after the change / that workload's oracle): "
              + ", ".join(f"{p['workload']} {p['ratio']:.2f}" for p in result["phases"]["phases"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
