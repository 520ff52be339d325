"""gothreads: a thread pool whose idle threads exit and whose stacks are reclaimed.

``gothreads.ThreadPoolExecutor`` (alias ``gothreads.Executor``) is a drop-in for
``concurrent.futures.ThreadPoolExecutor``; ``gothreads.runtime`` is the layer under it.
"""
from gothreads import runtime
from gothreads.executor import BrokenThreadPool, ExecutorStats, ThreadPoolExecutor, exit_thread

Executor = ThreadPoolExecutor

__all__ = [
    "ThreadPoolExecutor", "Executor", "BrokenThreadPool", "ExecutorStats", "exit_thread",
    "runtime",
]
__version__ = "0.1.0"
