"""``python -m gothreads``: gothreads against the stdlib executor, in one run.

Each scenario (gothreads/scenarios.py) runs for both executors, interleaved round by
round so that machine noise hits both alike; the table shows the medians, the ratio
gothreads/stdlib (lower is better) and a one-word verdict against the goal.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

from gothreads import runtime, scenarios

TRACE_FLAG = "--trace-burst"


def verdict(ratio: float, goal: float) -> str:
    if ratio <= goal:
        return "met"
    if ratio < 0.95:
        return "faster"
    if ratio <= 1.05:
        return "par"
    return "slower"


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, what: str) -> None:
        self.done += 1
        msg = f"[{self.done}/{self.total}] {time.monotonic() - self.t0:5.1f}s {what}"
        if self.tty:
            print(f"\r\033[K{msg}", end="", file=sys.stderr, flush=True)
        else:
            print(msg, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print("\r\033[K", end="", file=sys.stderr, flush=True)


def fmt_us(seconds: float) -> str:
    us = seconds * 1e6
    return f"{us:.2f} us" if us < 100 else f"{us:.0f} us"


def run(quick: bool, rounds: int) -> Dict[str, Any]:
    have_numpy = True
    try:
        import numpy  # noqa: F401
    except ImportError:
        have_numpy = False
    todo = [s for s in scenarios.SCENARIOS if have_numpy or s.run is not scenarios.numpy_sort]
    progress = Progress(rounds * (2 * len(todo) + 3) + 2)
    rows: List[Dict[str, Any]] = []
    for sc in todo:
        n = sc.n_quick if quick else sc.n_full
        samples: Dict[str, List[float]] = {"stdlib": [], "gothreads": []}
        serial: List[float] = []
        for r in range(rounds):
            for impl, cls in scenarios.IMPLS.items():
                samples[impl].append(sc.run(cls, n))
                progress.step(f"{sc.name} [{impl}] round {r + 1}")
            if sc.run is scenarios.numpy_sort:
                serial.append(scenarios.numpy_sort(None, n))
        std, got = (statistics.median(samples[k]) for k in ("stdlib", "gothreads"))
        row = dict(scenario=sc.name, n=n, stdlib_s=std, gothreads_s=got, ratio=got / std,
                   goal=sc.goal, verdict=verdict(got / std, sc.goal))
        if serial:
            row["vs_serial"] = statistics.median(serial) / got
            row["stdlib_vs_serial"] = statistics.median(serial) / std
        rows.append(row)
    # Thread churn: threading.Thread against a python M.
    n = 2000 if quick else 10000
    th, pm = [], []
    for r in range(rounds):
        th.append(scenarios.churn_threading(n))
        pm.append(scenarios.churn_python_m(n))
        progress.step(f"thread churn round {r + 1}")
    std, got = statistics.median(th), statistics.median(pm)
    rows.append(dict(scenario="thread create+run+exit+reap (vs threading.Thread)", n=n,
                     stdlib_s=std, gothreads_s=got, ratio=got / std, goal=0.7,
                     verdict=verdict(got / std, 0.7)))
    burst = {}
    for impl, cls in scenarios.IMPLS.items():
        burst[impl] = scenarios.burst_then_idle(cls, 64, 1.2)._asdict()
        progress.step(f"burst of 64 then idle [{impl}]")
    progress.close()
    return {"rows": rows, "burst": burst, "quick": quick, "rounds": rounds,
            "python": sys.version.split()[0]}


def print_table(res: Dict[str, Any]) -> None:
    rows = res["rows"]
    w = max(len(r["scenario"]) for r in rows)
    print(f"gothreads vs concurrent.futures.ThreadPoolExecutor, CPython {res['python']}, "
          f"medians of {res['rounds']} interleaved rounds (time per operation)")
    print(f"{'scenario':<{w}}  {'stdlib':>10}  {'gothreads':>10}  {'ratio':>6}  {'goal':>6}  verdict")
    for r in rows:
        goal = f"<={r['goal']:.2f}" if r["goal"] <= 1 else f">={1 / r['goal']:.2f}x"
        print(f"{r['scenario']:<{w}}  {fmt_us(r['stdlib_s']):>10}  {fmt_us(r['gothreads_s']):>10}  "
              f"{r['ratio']:>6.2f}  {goal:>6}  {r['verdict']}")
        if "vs_serial" in r:
            print(f"{'':<{w}}  throughput vs serial: stdlib {r['stdlib_vs_serial']:.2f}x, "
                  f"gothreads {r['vs_serial']:.2f}x")
    b = res["burst"]
    print("\nburst of 64 blocking tasks, then idle: OS threads before / peak / after idle")
    for impl in ("stdlib", "gothreads"):
        x = b[impl]
        print(f"  {impl:<10} {x['threads_before']:>3} / {x['threads_peak']:>3} / "
              f"{x['threads_after_idle']:>3}")
    st = runtime.stats()
    print(f"\nruntime: {st['ms_created']} Ms created, {st['ms_reaped']} reaped, "
          f"{st['ms_live']} live, {st['stacks_cached']} stacks cached")


# ---- --plot: burst, idle, burst, traced in a child per executor ----------------------

def trace_burst(impl: str) -> None:
    """Child side of --plot: print (t, threads, rss_kib) samples as JSON."""
    import numpy  # before the first sample: its BLAS threads are not the pool's

    cls = scenarios.IMPLS[impl]
    kwargs = {"idle_timeout": 0.5} if impl == "gothreads" else {}
    samples = []
    stop = threading.Event()
    t0 = time.monotonic()

    def sampler() -> None:
        while not stop.is_set():
            samples.append((time.monotonic() - t0, scenarios.os_threads(), scenarios.rss_kib()))
            time.sleep(0.02)

    s = threading.Thread(target=sampler, daemon=True)
    s.start()
    ex = cls(64, **kwargs)
    for _ in range(2):
        time.sleep(0.5)
        gate = threading.Barrier(65)
        fs = [ex.submit(gate.wait, 30) for _ in range(64)]
        gate.wait(30)
        for f in fs:
            f.result()
        time.sleep(0.3)
        # Work that allocates and releases the GIL, as real tasks do.
        list(ex.map(lambda _: numpy.ones(50_000).sum(), range(256)))
        time.sleep(1.5)
    stop.set()
    s.join()
    ex.shutdown()
    print(json.dumps(samples))


def plot(path: str) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install 'gothreads[plot]'", file=sys.stderr)
        return 2
    traces = {}
    for impl in scenarios.IMPLS:
        print(f"tracing burst-idle-burst [{impl}]...", file=sys.stderr, flush=True)
        # From the directory that holds this very package, so that -m finds it and
        # not another copy (a source tree in the current directory, say).
        home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out = subprocess.run([sys.executable, "-m", "gothreads", TRACE_FLAG, impl],
                             capture_output=True, text=True, check=True, timeout=120,
                             cwd=home)
        traces[impl] = json.loads(out.stdout)
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
    for impl, tr in traces.items():
        t = [x[0] for x in tr]
        ax1.plot(t, [x[1] for x in tr], label=impl)
        ax2.plot(t, [x[2] / 1024 for x in tr], label=impl)
    ax1.set_ylabel("OS threads")
    ax2.set_ylabel("RSS (MiB)")
    ax2.set_xlabel("seconds")
    ax1.set_title("burst of 64, idle, burst of 64, idle (gothreads idle_timeout=0.5 s)")
    ax1.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}", file=sys.stderr)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [TRACE_FLAG]:
        trace_burst(argv[1])
        return 0
    ap = argparse.ArgumentParser(prog="python -m gothreads", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a short run (about 10 s)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3, quick 2)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--plot", metavar="FILE.png",
                    help="only draw threads and RSS over burst-idle-burst for both executors")
    args = ap.parse_args(argv)
    if args.plot:
        return plot(args.plot)
    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be at least 1")
    rounds = args.rounds or (2 if args.quick else 3)
    res = run(args.quick, rounds)
    print_table(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
