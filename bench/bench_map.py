"""map() over many small items."""
from conftest import run_scenario

from gothreads import scenarios


def test_map_noop(benchmark, impl):
    run_scenario(benchmark, "list(map(noop, range(100k))), 4 workers", impl,
                 scenarios.map_noop, 100_000, rounds=3)
