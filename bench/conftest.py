"""pytest-benchmark suites: every scenario runs for the stdlib executor and for gothreads
in the same session, so each comparison is a ratio from one run.  The scenarios
themselves live in gothreads/scenarios.py (python -m gothreads runs the same ones).

    make bench          # writes bench/results/bench-3.11.json, ratios included
"""
import statistics

import pytest

from gothreads import scenarios

ROUNDS = 5


@pytest.fixture(params=list(scenarios.IMPLS))
def impl(request):
    return request.param


def run_scenario(benchmark, group, impl, fn, n, rounds=ROUNDS):
    """Benchmark fn(Executor, n); record the medians per operation of each round's wall
    time, CPU time (the whole process) and, for request loads, p50/p99 latency.  The
    compared quantity (per_op_median_s) is the p50 latency where there is one, else
    the wall time; returns it."""
    measures = []

    def once():
        measures.append(fn(scenarios.IMPLS[impl], n))

    benchmark.group = group
    benchmark.extra_info.update(impl=impl, n=n)
    benchmark.pedantic(once, rounds=rounds, iterations=1, warmup_rounds=0)
    info = benchmark.extra_info
    info["wall_median_s"] = statistics.median(m.wall for m in measures)
    info["cpu_per_op_median_s"] = statistics.median(m.cpu for m in measures)
    if measures[0].p50 is not None:
        info["p50_median_s"] = statistics.median(m.p50 for m in measures)
        info["p99_median_s"] = statistics.median(m.p99 for m in measures)
    info["per_op_median_s"] = info.get("p50_median_s", info["wall_median_s"])
    return info["per_op_median_s"]


def _ratios(benchmarks, key="per_op_median_s"):
    by_group = {}
    for b in benchmarks:
        info = b.get("extra_info", {}) if isinstance(b, dict) else b.extra_info
        group = b.get("group") if isinstance(b, dict) else b.group
        if "impl" in info and key in info:
            by_group.setdefault(group, {})[info["impl"]] = info[key]
    return {g: v["gothreads"] / v["stdlib"] for g, v in by_group.items()
            if "gothreads" in v and "stdlib" in v}


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["ratios_gothreads_over_stdlib"] = _ratios(output_json["benchmarks"])
    output_json["cpu_ratios_gothreads_over_stdlib"] = _ratios(output_json["benchmarks"],
                                                              "cpu_per_op_median_s")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None:
        return
    ratios = _ratios(session.benchmarks)
    cpu = _ratios(session.benchmarks, "cpu_per_op_median_s")
    if ratios:
        terminalreporter.section("gothreads / stdlib, medians per operation (lower is better)")
        terminalreporter.write_line(f"{'':<55} {'time':>6} {'cpu':>6}  (time: p50 latency for request loads)")
        for group, r in sorted(ratios.items()):
            terminalreporter.write_line(f"{group:<55} {r:6.3f} {cpu.get(group, float('nan')):6.3f}")
