"""submit(): sequential round trips, and a flood of tasks."""
from conftest import run_scenario

from gothreads import scenarios


def test_seq_submit_result(benchmark, impl):
    run_scenario(benchmark, "submit(noop).result(), 1 worker", impl, scenarios.seq_submit, 5000)


def test_seq_submit_result_hogged(benchmark, impl):
    run_scenario(benchmark, "submit(noop).result(), 1 worker, a CPU hogged", impl,
                 scenarios.seq_submit_hogged, 2000)


def test_bulk_submit_wait(benchmark, impl):
    run_scenario(benchmark, "100k submit(noop), wait all, 4 workers", impl,
                 scenarios.bulk_submit, 100_000, rounds=3)
