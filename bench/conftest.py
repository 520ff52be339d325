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
    """Benchmark fn(Executor, n); record the time per operation of each round."""
    per_op = []

    def once():
        per_op.append(fn(scenarios.IMPLS[impl], n))

    benchmark.group = group
    benchmark.extra_info.update(impl=impl, n=n)
    benchmark.pedantic(once, rounds=rounds, iterations=1, warmup_rounds=0)
    benchmark.extra_info["per_op_median_s"] = statistics.median(per_op)
    return statistics.median(per_op)


def _ratios(benchmarks):
    by_group = {}
    for b in benchmarks:
        info = b.get("extra_info", {}) if isinstance(b, dict) else b.extra_info
        group = b.get("group") if isinstance(b, dict) else b.group
        if "impl" in info and "per_op_median_s" in info:
            by_group.setdefault(group, {})[info["impl"]] = info["per_op_median_s"]
    return {g: v["gothreads"] / v["stdlib"] for g, v in by_group.items()
            if "gothreads" in v and "stdlib" in v}


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["ratios_gothreads_over_stdlib"] = _ratios(output_json["benchmarks"])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None:
        return
    ratios = _ratios(session.benchmarks)
    if ratios:
        terminalreporter.section("gothreads / stdlib, median time per operation (lower is better)")
        for group, r in sorted(ratios.items()):
            terminalreporter.write_line(f"{group:<55} {r:6.3f}")
