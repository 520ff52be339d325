"""python -m gothreads: gothreads against concurrent.futures.ThreadPoolExecutor, in one run.

Every scenario runs for both executors, interleaved round by round so that machine
noise hits both alike; the paced loads, whose cost swings most with the machine, run
both executors within each round, in alternating blocks (scenarios.paced_paired).  The
table shows, per scenario, the ratio gothreads/stdlib (lower is better) of the medians
of wall time per operation (the p50 latency of a request, for the request-shaped loads)
and of CPU time of the whole process, the spread of that ratio over the rounds, the
goal, and a verdict: met, at par (the goal lies inside the spread) or missed.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import gothreads
from gothreads import runtime, scenarios

TRACE_FLAG = "--trace-burst"
# Version of the --json layout.  1: no version field, display strings as the only names.
# 2: "id" per row, per-round samples and ratios, spreads, three verdicts, units.
SCHEMA_VERSION = 2
# Measured on the 2-vCPU VM this project is developed on, loaded by other work.
FULL_RUN_TIME = "about 2 min"
QUICK_RUN_TIME = "about 35 s"
WIDTH = 100   # the table's width where the terminal's is unknown
VERDICTS = ("met", "at par", "missed")   # from best to worst

UNITS = {
    "rows.stdlib, rows.gothreads": "medians over the rounds; time, cpu, p99: seconds per "
                                   "operation (time is the p50 latency for latency rows)",
    "rows.rounds": "one sample per round; wall, cpu: seconds per operation; p50, p99: "
                   "seconds per request (latency rows only, else null)",
    "rows.ratio, rows.round_ratios, rows.spread, rows.goal": "gothreads/stdlib, no unit",
    "rows.serial_rounds": "seconds per operation, serially on the calling thread",
    "burst": "threads_*: OS threads; stack_bytes_after_idle: bytes; quiet_wakeups: count; "
             "quiet_cpu_us: microseconds",
    "machine.loadavg_*": "1-minute load average",
}
PLOT_UNITS = {"traces.*.samples": "[seconds since start, OS threads, RSS in KiB]",
              "traces.*.bursts": "[start, end] in seconds since start"}


def judge(ratio: float, spread: Sequence[float], goal: Optional[float]) -> Optional[str]:
    """One quantity's verdict, on the ratios as printed (two decimals): 'met' when the
    whole spread (and the ratio of the medians) reaches the goal, 'missed' when none of
    it does, 'at par' when the goal lies inside the spread.  None: no goal."""
    if goal is None:
        return None
    g = round(goal, 2)
    lo = round(min(ratio, *spread), 2)
    hi = round(max(ratio, *spread), 2)
    if hi <= g:
        return "met"
    if lo > g:
        return "missed"
    return "at par"


def verdict(per: Dict[str, Optional[str]]) -> Tuple[str, str]:
    """The row's verdict, the worst of its quantities', and the text shown: the verdict
    and, unless met, which quantities have it."""
    given = {k: v for k, v in per.items() if v is not None}
    worst = max(given.values(), key=VERDICTS.index, default="met")
    if worst == "met":
        return worst, worst
    return worst, f"{worst}: " + ", ".join(k for k, v in given.items() if v == worst)


def fmt_duration(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


def term_width() -> int:
    """The terminal's width (COLUMNS first), WIDTH where there is no terminal."""
    return max(40, shutil.get_terminal_size((WIDTH, 24)).columns)


class Progress:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, what: str) -> None:
        self.done += 1
        spent = time.monotonic() - self.t0
        left = spent / self.done * (self.total - self.done)
        msg = f"[{self.done}/{self.total}] {spent:5.1f}s, about {fmt_duration(left)} left: {what}"
        if self.tty:
            # One line that fits, or the carriage return no longer overwrites it.
            try:
                cols = os.get_terminal_size(sys.stderr.fileno()).columns
            except OSError:
                cols = WIDTH
            msg = msg[:max(10, cols - 1)]
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


def row(sid: str, name: str, n: int, samples: Dict[str, List[scenarios.Measure]],
        goals: Dict[str, Optional[float]], latency: bool) -> Dict[str, Any]:
    """A scenario's results: medians, their ratios, the per-round ratios (round r of
    gothreads over round r of stdlib, measured side by side) and their spread, the
    verdicts."""
    std, got = samples["stdlib"], samples["gothreads"]
    key = {"time": "p50" if latency else "wall", "cpu": "cpu"}
    med = {impl: medians(ms, latency) for impl, ms in samples.items()}
    ratios = {k: med["gothreads"][k] / med["stdlib"][k] for k in key}
    per_round = {k: [getattr(g, a) / getattr(s, a) for s, g in zip(std, got)]
                 for k, a in key.items()}
    spread = {k: [min(v), max(v)] for k, v in per_round.items()}
    per = {k: judge(ratios[k], spread[k], goals[k]) for k in key}
    overall, text = verdict(per)
    return dict(id=sid, scenario=name, n=n, latency=latency,
                stdlib=med["stdlib"], gothreads=med["gothreads"], ratio=ratios,
                spread=spread, goal=goals, verdict=overall, verdicts=per, verdict_text=text,
                round_ratios=per_round,
                rounds={impl: [m._asdict() for m in ms] for impl, ms in samples.items()})


def context() -> Dict[str, Any]:
    """What the numbers were measured with and when."""
    return {"gothreads": gothreads.__version__,
            "python": sys.version.split()[0], "implementation": platform.python_implementation(),
            "machine": {"platform": platform.platform(), "arch": platform.machine(),
                        "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0))},
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


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
        r_ = row(sc.id, sc.name, n, samples, {"time": sc.goal_time, "cpu": sc.goal_cpu}, latency)
        if serial:
            r_["serial_rounds"] = serial
            r_["vs_serial"] = statistics.median(serial) / r_["gothreads"]["time"]
            r_["stdlib_vs_serial"] = statistics.median(serial) / r_["stdlib"]["time"]
        rows.append(r_)
    # Thread churn: threading.Thread ("stdlib") against a python M ("gothreads").
    n = 5000 if quick else 10000
    churn: Dict[str, List[scenarios.Measure]] = {"stdlib": [], "gothreads": []}
    for r in range(rounds):
        churn["stdlib"].append(scenarios.churn_threading(n))
        churn["gothreads"].append(scenarios.churn_python_m(n))
        progress.step(f"thread churn round {r + 1}")
    rows.append(row("thread_churn", "thread create+run+exit+reap", n,
                    churn, {"time": 0.7, "cpu": None}, False))
    burst = {}
    for impl, cls in scenarios.IMPLS.items():
        burst[impl] = scenarios.burst_then_idle(cls, 64, 1.2)._asdict()
        progress.step(f"burst of 64 then idle [{impl}]")
    progress.close()
    ctx = context()
    ctx["machine"].update(loadavg_start=load_start, loadavg_end=loadavg())
    return {"schema_version": SCHEMA_VERSION, "kind": "table", "units": UNITS,
            "rows": rows, "burst": burst, "quick": quick, "rounds": rounds,
            "numpy": have_numpy, **ctx}


def wrap(text: str, width: int, indent: str = "", more: str = "  ") -> List[str]:
    """text as lines of at most width columns; lines after the first indented by more."""
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + more,
                         break_on_hyphens=False) or [""]


def fmt_ratio(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def legend(width: int) -> List[str]:
    w = min(width, 90)
    parts = [
        "ratio: gothreads/stdlib of the medians, lower is better; spread: the lowest and "
        "highest ratio of one round; goal: the ratio to reach.",
        "time: wall time per operation, or the p50 latency of a request (paced and client "
        "loads); cpu: CPU time of the whole process per operation.",
        "result: met (every round reaches the goal), at par (the goal lies inside the "
        "spread) or missed (no round does).",
        "Under each row: the medians, stdlib / gothreads (thread churn: threading.Thread / "
        "gothreads' own thread); vs serial: the speed-up over sorting on one thread.",
    ]
    return [line for p in parts for line in wrap(p, w)]


def detail(r: Dict[str, Any]) -> str:
    s, g = r["stdlib"], r["gothreads"]
    parts = [f"{'p50' if r['latency'] else 'time'} {fmt_us(s['time'])} / {fmt_us(g['time'])}"]
    if r["latency"]:
        parts.append(f"p99 {fmt_us(s['p99'])} / {fmt_us(g['p99'])}")
    parts.append(f"cpu {fmt_us(s['cpu'])} / {fmt_us(g['cpu'])}")
    if "vs_serial" in r:
        parts.append(f"vs serial {r['stdlib_vs_serial']:.2f}x / {r['vs_serial']:.2f}x")
    return ", ".join(parts)


def table(res: Dict[str, Any], width: int) -> List[str]:
    """The results as lines of at most width columns."""
    rows = res["rows"]
    m = res["machine"]
    out = wrap(f"gothreads vs concurrent.futures.ThreadPoolExecutor, CPython {res['python']}, "
               f"medians of {res['rounds']} interleaved rounds", width)
    out += wrap(f"machine: {m['usable_cpus']} usable CPUs, load average {m['loadavg_start']} "
                f"at the start, {m['loadavg_end']} at the end (load slows both)",
                width)
    out += legend(width)
    out.append("")

    def cells(r: Dict[str, Any], k: str) -> List[str]:
        g = r["goal"][k]
        lo, hi = r["spread"][k]
        return [fmt_ratio(r["ratio"][k]), f"{fmt_ratio(lo)}-{fmt_ratio(hi)}",
                "-" if g is None else f"<={g:.2f}", r["verdicts"][k] or ""]

    heads = ["ratio", "spread", "goal", "result"]
    body = [(r, cells(r, "time") + cells(r, "cpu")) for r in rows]
    cw = [max(len(heads[i % 4]), *(len(c[i]) for _, c in body)) for i in range(8)]
    group = sum(cw[:4]) + 3
    numbers = 1 + group + 2 + group
    longest = max(len("scenario"), *(len(r["scenario"]) for r in rows))
    name_w = min(longest, width - numbers)
    # A name that does not fit beside its numbers gets a line of its own (never wrapped
    # beside them: wide spreads on a loaded machine made the columns wider).
    stacked = name_w < longest
    if stacked:
        name_w = 3

    def cols(c: Sequence[str]) -> str:
        return " ".join(f"{x:>{w}}" if i < 3 else f"{x:<{w}}"
                        for i, (x, w) in enumerate(zip(c, cw)))

    def line(name: str, c: Sequence[str]) -> str:
        return f"{name:<{name_w}} {cols(c[:4])}  {cols(c[4:])}".rstrip()

    if name_w + numbers <= width:
        out.append(f"{'':<{name_w}} {' time ':-^{group}}  {' cpu ':-^{group}}")
        out.append(line("" if stacked else "scenario", heads + heads))
    else:   # narrower still: time and cpu on lines of their own
        out.append(f"{'':<6}{cols(heads)}")
    for r, c in body:
        if name_w + numbers > width:
            out += wrap(r["scenario"], width)
            out.append(f"  {'time':<4}{cols(c[:4])}".rstrip())
            out.append(f"  {'cpu':<4}{cols(c[4:])}".rstrip())
        elif stacked:
            out += wrap(r["scenario"], width)
            out.append(line("", c))
        else:
            names = wrap(r["scenario"], name_w)
            out.append(line(names[0], c))
            out += names[1:]
        out += wrap(detail(r), width, "    ")
    if not res["numpy"]:
        out += wrap("numpy sort: not run (numpy is not installed: pip install numpy)", width)
    b = res["burst"]
    out.append("")
    out += wrap("burst of 64 blocking tasks, then idle: OS threads before / peak / after idle;",
                width)
    out += wrap(f"and in {scenarios.QUIET_S:g} s more of idle: wakeups of other threads, process CPU",
                width)
    for impl in ("stdlib", "gothreads"):
        x = b[impl]
        out += wrap(f"{impl:<10} {x['threads_before']:>3} / {x['threads_peak']:>3} / "
                    f"{x['threads_after_idle']:>3};  {x['quiet_wakeups']} wakeups, "
                    f"{fmt_us(x['quiet_cpu_us'] / 1e6)} CPU", width, "  ", "    ")
    return out


def print_table(res: Dict[str, Any], width: Optional[int] = None) -> None:
    width = term_width() if width is None else width
    out = table(res, width)
    st = runtime.stats()
    out.append("")
    out += wrap(f"runtime: {st['ms_created']} Ms (the runtime's OS threads) "
                f"created, {st['ms_reaped']} reaped, {st['ms_live']} "
                f"live, {st['stacks_cached']} stacks cached", width)
    print("\n".join(out))


# ---- --plot: burst, idle, burst, traced in a child per executor ----------------------

def burst_width(quick: bool) -> int:
    return 16 if quick else 64


def trace_burst(impl: str, width: int) -> None:
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
    ex = cls(width, **kwargs)
    phases = []
    for _ in range(2):
        time.sleep(0.5)
        b0 = time.monotonic() - t0
        gate = threading.Barrier(width + 1)
        fs = [ex.submit(gate.wait, 30) for _ in range(width)]
        gate.wait(30)
        for f in fs:
            f.result()
        time.sleep(0.3)
        # Work that allocates and releases the GIL, as real tasks do.
        list(ex.map(lambda _: numpy.ones(50_000).sum(), range(4 * width)))
        phases.append((b0, time.monotonic() - t0))
        time.sleep(1.5)
    stop.set()
    s.join()
    ex.shutdown()
    print(json.dumps({"samples": samples, "bursts": phases}))


def plot(path: str, quick: bool = False, json_path: Optional[str] = None) -> int:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("--plot needs matplotlib: pip install 'gothreads[plot]'", file=sys.stderr)
        return 2
    width = burst_width(quick)
    traces = {}
    for impl in scenarios.IMPLS:
        print(f"tracing burst-idle-burst [{impl}]...", file=sys.stderr, flush=True)
        # From the directory that holds this very package, so that -m finds it and
        # not another copy (a source tree in the current directory, say).
        home = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        out = subprocess.run([sys.executable, "-m", "gothreads", TRACE_FLAG, impl, str(width)],
                             capture_output=True, text=True, check=True, timeout=120,
                             cwd=home)
        traces[impl] = json.loads(out.stdout)
    ctx = context()
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(8, 6.4))
    for impl, tr in traces.items():
        t = [x[0] for x in tr["samples"]]
        line, = ax1.plot(t, [x[1] for x in tr["samples"]], label=impl)
        ax2.plot(t, [x[2] / 1024 for x in tr["samples"]], label=impl)
        # Each executor's own bursts, in its own colour: the two traces do not line up.
        for ax in (ax1, ax2):
            for i, (b0, b1) in enumerate(tr["bursts"]):
                ax.axvspan(b0, b1, color=line.get_color(), alpha=0.12, lw=0,
                           label=f"{impl} bursts" if ax is ax1 and i == 0 else None)
    ax1.set_ylim(bottom=0)
    ax1.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    rss = [x[2] / 1024 for tr in traces.values() for x in tr["samples"]]
    pad = max(1.0, 0.1 * (max(rss) - min(rss)))
    ax2.set_ylim(min(rss) - pad, max(rss) + pad)   # near the data: the change is what counts
    ax1.set_ylabel("OS threads")
    ax2.set_ylabel("RSS (MiB)")
    ax2.set_xlabel("seconds")
    ax1.set_title(f"burst of {width}, idle, burst of {width}, idle "
                  "(gothreads idle_timeout=0.5 s)")
    ax1.legend(fontsize="small")
    m = ctx["machine"]
    fig.text(0.01, 0.01, f"gothreads {ctx['gothreads']}, {ctx['implementation']} "
             f"{ctx['python']}, {m['arch']}, {m['usable_cpus']} usable CPUs, "
             f"{m['platform']}, {ctx['time']}", fontsize="x-small", color="0.3")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=100)
    print(f"wrote {path}", file=sys.stderr)
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"schema_version": SCHEMA_VERSION, "kind": "plot", "units": PLOT_UNITS,
                       "quick": quick, "burst_width": width, "idle_timeout": 0.5,
                       "traces": traces, **ctx}, f, indent=2)
        print(f"wrote {json_path}", file=sys.stderr)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [TRACE_FLAG]:
        trace_burst(argv[1], int(argv[2]) if len(argv) > 2 else burst_width(False))
        return 0
    ap = argparse.ArgumentParser(
        prog="python -m gothreads", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"A full run takes {FULL_RUN_TIME} on a 2-core VM, --quick {QUICK_RUN_TIME}, "
               "--plot about 15 s.")
    ap.add_argument("--quick", action="store_true",
                    help=f"smaller runs, 3 rounds ({QUICK_RUN_TIME} on a 2-core VM; a full run "
                         f"{FULL_RUN_TIME}); ratios within the run-to-run spread of a full "
                         "run.  With --plot: bursts of 16 in place of 64")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 3)")
    ap.add_argument("--json", metavar="FILE",
                    help="also write the results as JSON (with --plot: the plot's data)")
    ap.add_argument("--plot", metavar="FILE.png",
                    help="only draw threads and RSS over burst-idle-burst for both executors")
    args = ap.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.plot:
        return plot(args.plot, args.quick, args.json)
    rounds = args.rounds or (3 if args.quick else 5)
    res = run(args.quick, rounds)
    print_table(res)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
