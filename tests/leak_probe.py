"""Not collected by a plain run (no test_ prefix): tests/test_balance.py runs it in a
child pytest to show that the runtime balance check (conftest.runtime_balance) fails a
test that leaves threads behind, and that the opt-out marker works."""
import threading

import pytest

import gothreads
from gothreads import _testing

KEEP = []


def test_leaves_an_executor_running():
    ex = gothreads.ThreadPoolExecutor(2, idle_timeout=None)
    ex.submit(lambda: None).result()
    KEEP.append(ex)  # held and never shut down: its worker stays


def test_leaves_a_python_m_parked():
    gate = threading.Event()
    KEEP.append(gate)
    _testing.start_python_m(gate.wait)


@pytest.mark.keeps_threads
def test_opted_out():
    ex = gothreads.ThreadPoolExecutor(1, idle_timeout=None)
    ex.submit(lambda: None).result()
    KEEP.append(ex)


def test_shuts_down():
    with gothreads.ThreadPoolExecutor(2) as ex:
        list(ex.map(abs, range(10)))
