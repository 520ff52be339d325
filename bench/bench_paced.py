"""Request-shaped loads: one client at a steady rate, and 8 clients with think time.
Goals: CPU per request and p50 latency no more than the stdlib's."""
import pytest
from conftest import run_scenario

from gothreads import scenarios

PACED = [(rate, task) for task in (scenarios.noop, scenarios.work_50us)
         for rate in (200, 2000, 10000)]


@pytest.mark.parametrize("rate,task", PACED, ids=[f"{r}-{t.__name__}" for r, t in PACED])
def test_paced(benchmark, impl, rate, task):
    n = {200: 300, 2000: 1500, 10000: 4000}[rate]
    run_scenario(benchmark, f"paced {rate}/s submit({task.__name__}).result()", impl,
                 scenarios.paced(rate, task), n)


def test_clients(benchmark, impl):
    run_scenario(benchmark, "8 clients, 0-2 ms think, 32 workers", impl, scenarios.clients, 2400)
