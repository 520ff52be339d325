"""gothreads: a thread pool whose idle threads exit and whose stacks are reclaimed.

``gothreads.ThreadPoolExecutor`` (alias ``gothreads.Executor``) is a drop-in for
``concurrent.futures.ThreadPoolExecutor``; ``gothreads.runtime`` is the layer under it.
"""
import os as _os
from importlib.util import find_spec as _find_spec

# From a source tree that was never built, the compiled parts are missing and the first
# import of one fails as a confusing "partially initialized module"; say what to do.
if _find_spec("gothreads._runtime") is None or _find_spec("gothreads._pool") is None:
    raise ImportError(
        f"gothreads in {_os.path.dirname(__file__)} has no compiled extensions "
        "(gothreads._runtime, gothreads._pool): build them in place with `make build` "
        "(python setup.py build_ext --inplace), or run Python from outside the source "
        "tree to use an installed gothreads (pip install . installs one, which this "
        "tree's gothreads/ hides while you run from here).")
del _os, _find_spec

from gothreads import runtime  # noqa: E402
from gothreads.executor import (BrokenThreadPool, ExecutorStats, ThreadPoolExecutor, blocking,
                                 exit_thread, rejoin, secede)

Executor = ThreadPoolExecutor

__all__ = [
    "ThreadPoolExecutor", "Executor", "BrokenThreadPool", "ExecutorStats", "exit_thread",
    "blocking", "secede", "rejoin", "runtime",
]
__version__ = "0.1.0"
