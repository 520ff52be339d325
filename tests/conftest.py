"""Shared test helpers.  Tests that create or exit threads, fork, or may crash or hang
run their body in a child interpreter with a timeout (run_child), as libuv and Go do."""
import faulthandler
import os
import subprocess
import sys
import textwrap
import threading

import pytest

CHILD_TIMEOUT = float(os.environ.get("GOTHREADS_TEST_TIMEOUT", "300"))
HANG_GUARD = 120  # seconds: a hung in-process test dumps every thread's stack and exits
# How long after a test its Ms and threads may take to leave (runtime_balance).
BALANCE_TIMEOUT = float(os.environ.get("GOTHREADS_BALANCE_TIMEOUT", "10"))

# Imported by the children: helpers that read the process's own state.
PROC_HELPERS = '''
import os, re, threading
def proc_status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
def maps_lines():
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)
def os_threads():
    return len(os.listdir("/proc/self/task"))
'''


def run_child(code, timeout=CHILD_TIMEOUT, env=None, expect_rc=0):
    """Run `code` in `python -c` with the proc helpers preloaded; return its stdout.
    Fails the test on a non-expected exit status, a signal or a timeout."""
    src = PROC_HELPERS + textwrap.dedent(code)
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        p = subprocess.run(
            [sys.executable, "-c", src],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"child timed out after {timeout}s\nstdout:\n{e.stdout}\nstderr:\n{e.stderr}")
    if p.returncode != expect_rc:
        pytest.fail(
            f"child exited with {p.returncode} (expected {expect_rc})\n"
            f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        )
    return p


@pytest.fixture
def child():
    return run_child


@pytest.fixture
def hang_guard():
    """For files whose tests run threads in this process (``pytestmark =
    pytest.mark.usefixtures("hang_guard")``): a test that hangs dumps every thread's
    stack and ends the run, instead of waiting for CI's own limit."""
    faulthandler.dump_traceback_later(HANG_GUARD, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "keeps_threads: the test leaves threads or Ms running on purpose "
        "(the runtime balance check after it is skipped)")


@pytest.fixture(autouse=True)
def runtime_balance(request):
    """After every test, as uvloop checks its handles: the Ms and threads the test
    started are gone and their stacks reaped (gothreads._testing.unbalanced), within a
    deadline that lets shut-down and dropped executors' workers leave.  Ms and threads
    that were running before the test may stay (a pool kept alive on purpose).  A test
    that must leave its own running says so with ``@pytest.mark.keeps_threads``.
    Tests whose body runs in a child interpreter leave this process alone; the
    children check themselves (gothreads._testing.assert_balanced)."""
    from gothreads import _testing, runtime

    live, threads = runtime.stats()["ms_live"], threading.active_count()
    yield
    if request.node.get_closest_marker("keeps_threads"):
        return
    problem = _testing.unbalanced(live=live, threads=threads, timeout=BALANCE_TIMEOUT)
    if problem:
        pytest.fail(f"the test left the runtime unbalanced: {problem}", pytrace=False)
