"""A burst of 64 blocking tasks, then idle: gothreads must return to the baseline
thread count and mapped stack memory (plus its bounded stack cache); the stdlib keeps
its 64 threads until shutdown.  Not a timing: the numbers go in extra_info."""
from gothreads import runtime, scenarios


def test_burst_then_idle(benchmark, impl):
    benchmark.group = "burst of 64, then 1.2 s idle"
    results = []
    benchmark.pedantic(lambda: results.append(
        scenarios.burst_then_idle(scenarios.IMPLS[impl], 64, 1.2)), rounds=1, iterations=1)
    r = results[-1]
    benchmark.extra_info.update(impl=impl, **r._asdict())
    if impl == "gothreads":
        assert r.threads_after_idle <= r.threads_before, r
        st = runtime.stats()
        assert r.stack_bytes_after_idle <= st["stack_cache_limit"] * 8 * 1024 * 1024 + 2 ** 20, r
