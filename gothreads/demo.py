"""python -m gothreads: gothreads against concurrent.futures.ThreadPoolExecutor, in one run.

Every scenario runs for both executors, interleaved round by round so that machine
noise hits both alike; the paced loads, whose cost swings most with the machine, run
both executors within each round, in alternating blocks (scenarios.paced_paired).  The
table shows medians per operation: wall time (the p50 latency of a request, for the
request-shaped loads) and CPU time of the whole process,
the ratios gothreads/stdlib (lower is better), the goals for those ratios, and whether
the medians met them.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional

import gothreads
from gothreads import runtime, scenarios

TRACE_FLAG = "--trace-burst"
LEGEND = ("verdict: 'met' when every goal is reached by the ratio as printed, "
          "else 'missed' and which.")


def verdict(ratios: Dict[str, float], goals: Dict[str, Optional[float]]) -> str:
    missed = [f"{k} {ratios[k]:.2f} > {g:.2f}" for k, g in goals.items()
              if g is not None and round(ratios[k], 2) > g]
    return "met" if not missed else "missed: " + ", ".join(missed)


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


def loadavg() -> Optional[float]:
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def medians(ms: List[scenarios.Measure], latency: bool) -> Dict[str, float]:
    """The medians of a scenario's rounds: 'time' is the wall time per operation, or
    the p50 latency for a request-shaped load."""
    def med(key: str) -> float:
        return statistics.median(float(getattr(m, key)) for m in ms)

    out = {"time": med("p50" if latency else "wall"), "cpu": med("cpu")}
    if latency:
        out["p99"] = med("p99")
    return out


def row(name: str, n: int, std: Dict[str, float], got: Dict[str, float],
        goals: Dict[str, Optional[float]], latency: bool) -> Dict[str, Any]:
    ratios = {k: got[k] / std[k] for k in ("time", "cpu")}
    return dict(scenario=name, n=n, latency=latency, stdlib=std, gothreads=got,
                ratio=ratios, goal=goals, verdict=verdict(ratios, goals))


def run(quick: bool, rounds: int) -> Dict[str, Any]:
    try:
        import numpy  # noqa: F401
        have_numpy = True
    except ImportError:
        have_numpy = False
    todo = [s for s in scenarios.SCENARIOS if have_numpy or s.run is not scenarios.numpy_sort]
    progress = Progress(rounds * (2 * len(todo) + 1) + 2)
    load_start = loadavg()
    rows: List[Dict[str, Any]] = []
    for sc in todo:
        n = sc.n_quick if quick else sc.n_full
        latency = sc.name in scenarios.LATENCY_SCENARIOS
        samples: Dict[str, List[scenarios.Measure]] = {"stdlib": [], "gothreads": []}
        serial: List[float] = []
        for r in range(rounds):
            if sc.paired is not None:
                for impl, m in sc.paired(n).items():
                    samples[impl].append(m)
                    progress.step(f"{sc.name} [{impl}] round {r + 1}")
                continue
            for impl, cls in scenarios.IMPLS.items():
                samples[impl].append(sc.run(cls, n))
                progress.step(f"{sc.name} [{impl}] round {r + 1}")
            if sc.run is scenarios.numpy_sort:
                serial.append(scenarios.numpy_sort(None, n).wall)
        r_ = row(sc.name, n, medians(samples["stdlib"], latency),
                 medians(samples["gothreads"], latency),
                 {"time": sc.goal_time, "cpu": sc.goal_cpu}, latency)
        if serial:
            r_["vs_serial"] = statistics.median(serial) / r_["gothreads"]["time"]
            r_["stdlib_vs_serial"] = statistics.median(serial) / r_["stdlib"]["time"]
        rows.append(r_)
    # Thread churn: threading.Thread against a python M.
    n = 5000 if quick else 10000
    th, pm = [], []
    for r in range(rounds):
        th.append(scenarios.churn_threading(n))
        pm.append(scenarios.churn_python_m(n))
        progress.step(f"thread churn round {r + 1}")
    rows.append(row("thread create+run+exit+reap (vs threading.Thread)", n,
                    medians(th, False), medians(pm, False), {"time": 0.7, "cpu": None}, False))
    burst = {}
    for impl, cls in scenarios.IMPLS.items():
        burst[impl] = scenarios.burst_then_idle(cls, 64, 1.2)._asdict()
        progress.step(f"burst of 64 then idle [{impl}]")
    progress.close()
    return {"rows": rows, "burst": burst, "quick": quick, "rounds": rounds,
            "numpy": have_numpy,
            "gothreads": gothreads.__version__,
            "python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "machine": {"platform": platform.platform(), "arch": platform.machine(),
                        "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
                        "loadavg_start": load_start, "loadavg_end": loadavg()},
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def print_table(res: Dict[str, Any]) -> None:
    rows = res["rows"]
    m = res["machine"]
    w = max(len(r["scenario"]) for r in rows)
    print(f"gothreads vs concurrent.futures.ThreadPoolExecutor, CPython {res['python']}, "
          f"medians of {res['rounds']} interleaved rounds")
    print(f"machine: {m['usable_cpus']} usable CPUs, load average {m['loadavg_start']} at the "
          f"start, {m['loadavg_end']} at the end (a loaded machine slows both)")
    print(f"time: wall time per operation, or p50 latency per request (paced and client "
          f"loads); cpu: CPU time of the whole process per operation; ratio: gothreads/stdlib, "
          f"lower is better; goals: time, cpu.  {LEGEND}")
    print(f"{'':<{w}}  {'-------- time --------':^30}  {'-------- cpu ---------':^30}")
    print(f"{'scenario':<{w}}  {'stdlib':>10} {'gothreads':>10} {'ratio':>6}  "
          f"{'stdlib':>10} {'gothreads':>10} {'ratio':>6}  {'goals':>13}  verdict")
    for r in rows:
        goals = " ".join("-" if g is None else f"<={g:.2f}" for g in r["goal"].values())
        s, g, q = r["stdlib"], r["gothreads"], r["ratio"]
        print(f"{r['scenario']:<{w}}  {fmt_us(s['time']):>10} {fmt_us(g['time']):>10} "
              f"{q['time']:>6.2f}  {fmt_us(s['cpu']):>10} {fmt_us(g['cpu']):>10} "
              f"{q['cpu']:>6.2f}  {goals:>13}  {r['verdict']}")
        if "vs_serial" in r:
            print(f"{'':<{w}}  throughput vs serial: stdlib {r['stdlib_vs_serial']:.2f}x, "
                  f"gothreads {r['vs_serial']:.2f}x")
        if r["latency"]:
            print(f"{'':<{w}}  p99 latency: stdlib {fmt_us(s['p99'])}, gothreads {fmt_us(g['p99'])}")
    if not res["numpy"]:
        print("numpy sort: not run (numpy is not installed: pip install numpy)")
    b = res["burst"]
    print(f"\nburst of 64 blocking tasks, then idle: OS threads before / peak / after idle; "
          f"then {scenarios.QUIET_S:g} s more idle: wakeups of other threads, process CPU")
    for impl in ("stdlib", "gothreads"):
        x = b[impl]
        print(f"  {impl:<10} {x['threads_before']:>3} / {x['threads_peak']:>3} / "
              f"{x['threads_after_idle']:>3};  {x['quiet_wakeups']} wakeups, "
              f"{fmt_us(x['quiet_cpu_us'] / 1e6)} CPU")
    st = runtime.stats()
    print(f"\nruntime: {st['ms_created']} Ms created, {st['ms_reaped']} reaped, "
          f"{st['ms_live']} live, {st['stacks_cached']} stacks cached")


# ---- --plot: burst, idle, burst, traced in a child per executor ----------------------

def trace_burst(impl: str) -> None:
    """Child side of --plot: print (t, threads, rss_kib) samples as JSON."""
    import numpy  # before the first sample: its BLAS threads are not the pool's

    cls = scenarios.IMPLS[impl]
    kwargs: Dict[str, Any] = {"idle_timeout": 0.5} if impl == "gothreads" else {}
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
    phases = []
    for _ in range(2):
        time.sleep(0.5)
        b0 = time.monotonic() - t0
        gate = threading.Barrier(65)
        fs = [ex.submit(gate.wait, 30) for _ in range(64)]
        gate.wait(30)
        for f in fs:
            f.result()
        time.sleep(0.3)
        # Work that allocates and releases the GIL, as real tasks do.
        list(ex.map(lambda _: numpy.ones(50_000).sum(), range(256)))
        phases.append((b0, time.monotonic() - t0))
        time.sleep(1.5)
    stop.set()
    s.join()
    ex.shutdown()
    print(json.dumps({"samples": samples, "bursts": phases}))


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
        t = [x[0] for x in tr["samples"]]
        ax1.plot(t, [x[1] for x in tr["samples"]], label=impl)
        ax2.plot(t, [x[2] / 1024 for x in tr["samples"]], label=impl)
    for ax in (ax1, ax2):
        for i, (b0, b1) in enumerate(traces["gothreads"]["bursts"]):
            ax.axvspan(b0, b1, color="0.9", label="burst" if ax is ax1 and i == 0 else None)
        ax.set_ylim(bottom=0)
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
    ap.add_argument("--quick", action="store_true",
                    help="smaller runs, 3 rounds (about 30 s); ratios within the run-to-run spread of a full run")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 3)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--plot", metavar="FILE.png",
                    help="only draw threads and RSS over burst-idle-burst for both executors")
    args = ap.parse_args(argv)
    if args.plot:
        return plot(args.plot)
    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be at least 1")
    rounds = args.rounds or (3 if args.quick else 5)
    res = run(args.quick, rounds)
    print_table(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
