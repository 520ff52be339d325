"""Thread churn: a python M (create, run a no-op, exit, reap) against
threading.Thread(...).start(); join().  Goal: <= 0.7."""
import statistics

from gothreads import scenarios

N = 5000


def _bench(benchmark, impl, fn):
    per_op = []
    benchmark.group = "thread create+run+exit+reap"
    benchmark.extra_info.update(impl=impl, n=N)
    benchmark.pedantic(lambda: per_op.append(fn(N)), rounds=5, iterations=1)
    benchmark.extra_info["per_op_median_s"] = statistics.median(per_op)


def test_threading_thread(benchmark):
    _bench(benchmark, "stdlib", scenarios.churn_threading)


def test_python_m(benchmark):
    _bench(benchmark, "gothreads", scenarios.churn_python_m)
