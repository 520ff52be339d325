"""Thread churn: a python M (create, run a no-op, exit, reap) against
threading.Thread(...).start(); join().  Goal: <= 0.7."""
from conftest import run_scenario

from gothreads import scenarios

GROUP = "thread create+run+exit+reap"
N = 5000


def test_threading_thread(benchmark):
    run_scenario(benchmark, GROUP, "stdlib", lambda _cls, n: scenarios.churn_threading(n), N)


def test_python_m(benchmark):
    run_scenario(benchmark, GROUP, "gothreads", lambda _cls, n: scenarios.churn_python_m(n), N)
