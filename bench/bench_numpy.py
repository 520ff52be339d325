"""numpy work that releases the GIL: sorting 200k-float chunks, one worker per CPU.
Goal: >= 0.95x the stdlib's throughput and >= 1.8x serial (on a machine with 2+ CPUs)."""
import pytest
from conftest import run_scenario

from gothreads import scenarios

np = pytest.importorskip("numpy")
N = 64


def test_numpy_sort(benchmark, impl):
    per_chunk = run_scenario(benchmark, "numpy sort chunks, 1 worker/CPU", impl,
                             scenarios.numpy_sort, N)
    serial = scenarios.numpy_sort(None, N).wall
    benchmark.extra_info["speedup_vs_serial"] = serial / per_chunk


def test_numpy_sort_serial(benchmark):
    benchmark.group = "numpy sort chunks, serial baseline"
    benchmark.pedantic(scenarios.numpy_sort, args=(None, N), rounds=5, iterations=1)
