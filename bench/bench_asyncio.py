"""asyncio: run_in_executor, and to_thread with the executor as the default."""
from conftest import run_scenario

from gothreads import scenarios


def test_run_in_executor(benchmark, impl):
    run_scenario(benchmark, "await run_in_executor(ex, noop)", impl,
                 scenarios.asyncio_run_in_executor, 3000)


def test_to_thread(benchmark, impl):
    run_scenario(benchmark, "await asyncio.to_thread(noop)", impl,
                 scenarios.asyncio_to_thread, 3000)
