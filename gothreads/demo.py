"""The demo/benchmark CLI behind ``python -m gothreads``.

It churns Ms of each kind (create, run, exit, reap) and a plain
``threading.Thread(...).start(); join()`` in the same run, and prints the cost per
thread and the runtime's counters before and after.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from typing import Dict, List, Optional

from gothreads import runtime


def _noop() -> None:
    pass


def threading_churn(count: int) -> float:
    t0 = time.perf_counter()
    for _ in range(count):
        t = threading.Thread(target=_noop)
        t.start()
        t.join()
    return time.perf_counter() - t0


def churn_costs(count: int, rounds: int, progress) -> Dict[str, float]:
    """Median microseconds per thread for each M kind and for threading.Thread,
    interleaved round by round so that machine noise hits all of them alike."""
    kinds = [k for k in runtime.KINDS if k != "raw" or runtime.raw_supported()]
    samples: Dict[str, List[float]] = {k: [] for k in kinds + ["threading.Thread"]}
    for r in range(rounds):
        for k in kinds:
            samples[k].append(runtime.churn(count, kind=k) / count * 1e6)
            progress(f"round {r + 1}/{rounds}: {k}")
        samples["threading.Thread"].append(threading_churn(count) / count * 1e6)
        progress(f"round {r + 1}/{rounds}: threading.Thread")
    return {k: statistics.median(v) for k, v in samples.items()}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gothreads", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a short run (a few seconds)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    count, rounds = (2000, 3) if args.quick else (10000, 5)

    tty = sys.stderr.isatty()

    def progress(msg: str) -> None:
        if tty:
            print(f"\r\033[K  {msg}", end="", file=sys.stderr, flush=True)
        else:
            print(f"  {msg}", file=sys.stderr, flush=True)

    before = runtime.stats()
    print(f"gothreads runtime: churn {count} Ms per round, {rounds} rounds, median per thread")
    costs = churn_costs(count, rounds, progress)
    if tty:
        print("\r\033[K", end="", file=sys.stderr)
    after = runtime.stats()
    base = costs["threading.Thread"]
    print(f"{'kind':<18} {'us/thread':>10} {'vs threading':>13}")
    for k, v in costs.items():
        print(f"{k:<18} {v:>10.1f} {v / base:>12.2f}x")
    print("\nruntime.stats()  before -> after")
    for key in before:
        print(f"  {key:<20} {before[key]:>12} -> {after[key]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"churn_us": costs, "stats_before": before, "stats_after": after}, f, indent=2)
    return 0
