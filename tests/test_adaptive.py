"""adaptive=True and max_pending: the wiring of the controller (its policy is tested on
a simulated clock in tests/c/test_adapt.c, its performance measured by
bench/adaptive.py) and the bounded queue's contract.

Nothing here asserts a speed: the controller's moves are asserted only where any sane
policy must make them whatever the machine's load (waiting tasks with a backlog grow
the limit; starved queued work gets a slot)."""
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor as StdlibExecutor

import pytest

import gothreads
from gothreads import _testing
from gothreads._config import ADAPTIVE_MAX_WORKERS, default_max_workers

pytestmark = pytest.mark.usefixtures("hang_guard")


# -- configuration -----------------------------------------------------------------------

@pytest.mark.parametrize("kw, err", [
    ({"adaptive": 1}, TypeError),
    ({"adaptive": None}, TypeError),
    ({"max_pending": 0}, ValueError),
    ({"max_pending": -3}, ValueError),
    ({"max_pending": True}, TypeError),
    ({"max_pending": 2.0}, TypeError),
    ({"max_pending": "8"}, TypeError),
    ({"max_pending": 4, "pending_timeout": -1}, ValueError),
    ({"max_pending": 4, "pending_timeout": float("nan")}, ValueError),
    ({"max_pending": 4, "pending_timeout": "1"}, TypeError),
    ({"max_pending": 4, "pending_timeout": True}, TypeError),
])
def test_bad_options_raise_before_anything_starts(kw, err):
    before = threading.active_count()
    with pytest.raises(err):
        gothreads.ThreadPoolExecutor(2, **kw)
    assert threading.active_count() == before


def test_adaptive_defaults():
    with gothreads.ThreadPoolExecutor(adaptive=True) as ex:
        assert ex._max_workers == ADAPTIVE_MAX_WORKERS
        st = ex.stats()
        assert st.limit == min(default_max_workers(), ADAPTIVE_MAX_WORKERS)
        assert st.limit_reason == "start"
    with gothreads.ThreadPoolExecutor(3, adaptive=True) as ex:
        assert ex.stats().limit == 3  # the start is under the ceiling
    with gothreads.ThreadPoolExecutor(3) as ex:
        st = ex.stats()
        assert (st.limit, st.throughput, st.limit_reason) == (None, 0.0, "")


# -- adaptive: the same results, the limit in force ----------------------------------------

def _square_after(x, delay):
    time.sleep(delay)
    if x % 7 == 3:
        raise ValueError(x)
    return x * x


def _outcomes(ex, n, delay):
    fs = [ex.submit(_square_after, i, delay) for i in range(n)]
    out = []
    for f in fs:
        try:
            out.append(("ok", f.result(timeout=60)))
        except ValueError as e:
            out.append(("err", e.args))
    mapped = []
    it = ex.map(_square_after, range(n), [delay] * n)
    while True:
        try:
            mapped.append(("ok", next(it)))
        except StopIteration:
            break
        except ValueError as e:
            mapped.append(("err", e.args))
            break  # as the stdlib: the map is over after an exception
    return out, mapped


def test_adaptive_results_are_the_stdlibs():
    with StdlibExecutor(8) as ex:
        want = _outcomes(ex, 300, 0.002)
    with gothreads.ThreadPoolExecutor(8, adaptive=True) as ex:
        got = _outcomes(ex, 300, 0.002)
    assert got == want


def test_waiting_tasks_with_a_backlog_raise_the_limit_and_the_threads_follow():
    with gothreads.ThreadPoolExecutor(64, adaptive=True) as ex:
        start = ex.stats().limit
        fs = [ex.submit(time.sleep, 0.02) for _ in range(3000)]
        peak = (start, 0)
        for f in fs:
            f.result()
            st = ex.stats()
            peak = max(peak, (st.limit, st.workers))
        assert peak[0] > start, (start, peak)
        # The threads stay within the limit (and a worker on its way out).
        assert ex.stats().peak_workers <= 64


def test_a_lowered_limit_caps_running_tasks_and_idle_workers_leave():
    running = []
    hold = threading.Event()
    lock = threading.Lock()
    most = [0]

    def task():
        with lock:
            running.append(1)
            most[0] = max(most[0], len(running))
        hold.wait(0.01)
        with lock:
            running.pop()

    with gothreads.ThreadPoolExecutor(8, adaptive=True, idle_timeout=None) as ex:
        list(ex.map(lambda _: task(), range(64)))  # warm: up to 8 workers
        _testing.force_adaptive_limit(ex, 2)
        most[0] = 0
        fs = [ex.submit(task) for _ in range(40)]
        for f in fs:
            f.result()
        assert most[0] <= 3  # 2, and a worker starting as the limit changed
        deadline = time.monotonic() + 10
        while ex.stats().workers > 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ex.stats().workers <= 2


def test_starved_queued_work_gets_a_slot_where_the_stdlib_runs_it(child):
    """A task waits for one queued behind it: the stdlib with 2 workers runs both.  A
    limit lowered to 1 must not deadlock it (the starvation rule raises it).  In a child:
    without the rule, the pool hangs."""
    child("""
        import threading
        from concurrent.futures import ThreadPoolExecutor as StdlibExecutor
        import gothreads
        from gothreads import _testing

        def first(ev):
            return ev.wait(30)

        with StdlibExecutor(2) as ex:
            ev = threading.Event()
            a = ex.submit(first, ev)
            ex.submit(ev.set)
            assert a.result() is True
        with gothreads.ThreadPoolExecutor(2, adaptive=True) as ex:
            _testing.force_adaptive_limit(ex, 1)
            ev = threading.Event()
            a = ex.submit(first, ev)
            ex.submit(ev.set)
            assert a.result(timeout=25) is True
            st = ex.stats()
            assert st.limit == 2 and st.limit_reason == "queued tasks starved", st
        _testing.assert_balanced()
    """, timeout=60)


def test_the_controller_thread_ends_with_the_executor():
    ex = gothreads.ThreadPoolExecutor(4, adaptive=True)
    ex.submit(time.sleep, 0.01).result()
    ticker = ex._pool.ticker_thread()
    assert ticker is not None and ticker.is_alive()
    assert ticker.name.endswith("_adapt") and ticker not in ex._threads
    assert ex.shutdown(wait=True) is True
    assert not ticker.is_alive()


def test_an_idle_adaptive_pool_has_an_idle_controller():
    """The controller's thread ticks while there is work and waits without a timeout
    while there is none; a submission wakes it."""
    def parked_within(want, seconds=10):
        deadline = time.monotonic() + seconds
        while ex._pool.controller_parked() != want and time.monotonic() < deadline:
            time.sleep(0.005)
        return ex._pool.controller_parked()

    with gothreads.ThreadPoolExecutor(4, adaptive=True) as ex:
        ex.submit(time.sleep, 0.01).result()
        assert parked_within(True) is True
        gate = threading.Event()
        f = ex.submit(gate.wait)
        assert parked_within(False) is False  # woken: a task runs
        gate.set()
        f.result()
        assert parked_within(True) is True


def test_resize_moves_the_ceiling_under_the_controller():
    with gothreads.ThreadPoolExecutor(16, adaptive=True) as ex:
        _testing.force_adaptive_limit(ex, 12)
        ex.resize(max_workers=4)
        assert ex.stats().limit == 4
        ex.resize(max_workers=32)
        assert ex.stats().limit == 4  # the controller grows it when it pays
        assert ex.submit(pow, 3, 3).result() == 27


# -- max_pending ----------------------------------------------------------------------------

def _filled(workers, max_pending, **kw):
    """An executor whose workers are held and whose queue is full."""
    gate = threading.Event()
    ex = gothreads.ThreadPoolExecutor(workers, max_pending=max_pending, **kw)
    held = [ex.submit(gate.wait) for _ in range(workers)]
    deadline = time.monotonic() + 10
    while ex.stats().busy < workers and time.monotonic() < deadline:
        time.sleep(0.001)
    queued = [ex.submit(pow, 2, i) for i in range(max_pending)]
    return ex, gate, held, queued


def test_submit_waits_for_room_and_goes_on_when_a_task_starts():
    ex, gate, held, queued = _filled(1, 3)
    got = []
    t = threading.Thread(target=lambda: got.append(ex.submit(pow, 3, 2)))
    t.start()
    t.join(0.3)
    assert t.is_alive() and not got  # waiting: 3 queued
    assert ex.stats().pending == 3
    gate.set()
    t.join(10)
    assert not t.is_alive() and got[0].result(timeout=10) == 9
    assert [f.result() for f in queued] == [1, 2, 4]
    ex.shutdown()


def test_pending_timeout_raises_queue_full_and_accepts_nothing():
    ex, gate, held, queued = _filled(1, 2, pending_timeout=0.1)
    before = ex.stats().submitted
    t0 = time.monotonic()
    with pytest.raises(queue.Full, match="max_pending"):
        ex.submit(pow, 2, 2)
    assert time.monotonic() - t0 >= 0.09
    assert ex.stats().submitted == before and ex.stats().pending == 2
    gate.set()
    assert [f.result() for f in queued] == [1, 2]
    ex.shutdown()


def test_the_queue_stays_bounded_under_a_producer_that_outruns_the_workers():
    most = [0]
    with gothreads.ThreadPoolExecutor(2, max_pending=16) as ex:
        def sample():
            most[0] = max(most[0], len(ex._pool.queue))
        fs = []
        for i in range(3000):
            fs.append(ex.submit(sum, range(200)))
            sample()
        assert all(f.result() == 19900 for f in fs)
    assert 0 < most[0] <= 16


def test_a_task_submitting_to_its_own_full_pool_does_not_deadlock(child):
    """The one worker's task submits to the full queue: were it to wait for room, only
    it could make room.  Its submissions go over the bound instead.  In a child: the
    defect hangs the pool."""
    child("""
        import gothreads
        from gothreads import _testing
        with gothreads.ThreadPoolExecutor(1, max_pending=1) as ex:
            def parent():
                return [ex.submit(pow, 2, i) for i in range(5)]
            subs = ex.submit(parent).result(timeout=20)
            assert [f.result(timeout=20) for f in subs] == [1, 2, 4, 8, 16]
        _testing.assert_balanced()
    """, timeout=60)


def test_shutdown_releases_waiting_submitters_with_the_stdlibs_error():
    ex, gate, held, queued = _filled(1, 1)
    errors = []

    def submitter():
        try:
            ex.submit(pow, 2, 2)
        except RuntimeError as e:
            errors.append(str(e))

    t = threading.Thread(target=submitter)
    t.start()
    t.join(0.2)
    assert t.is_alive()
    ex.shutdown(wait=False)
    t.join(10)
    assert errors == ["cannot schedule new futures after shutdown"]
    gate.set()
    ex.shutdown()


def test_a_broken_pool_releases_waiting_submitters():
    gate = threading.Event()

    def init():
        gate.wait(10)
        raise ValueError("no")

    ex = gothreads.ThreadPoolExecutor(1, max_pending=1, initializer=init)
    first = ex.submit(pow, 2, 2)   # the worker starts for it, in its initializer
    ex.submit(pow, 2, 3)           # queued: full
    errors = []

    def submitter():
        try:
            ex.submit(pow, 2, 4)
        except gothreads.BrokenThreadPool as e:
            errors.append(e)

    t = threading.Thread(target=submitter)
    t.start()
    t.join(0.2)
    assert t.is_alive()
    gate.set()
    t.join(10)
    assert len(errors) == 1
    with pytest.raises(gothreads.BrokenThreadPool):
        first.result()
    ex.shutdown()


def test_waiting_submitters_go_in_order_of_arrival():
    ex, gate, held, queued = _filled(1, 1)
    order = []
    threads = []
    for i in range(4):
        t = threading.Thread(target=lambda i=i: ex.submit(order.append, i))
        t.start()
        deadline = time.monotonic() + 10
        while ex._pool.waiting_submitters() < i + 1:
            if time.monotonic() > deadline:
                break
            time.sleep(0.001)
        threads.append(t)
    gate.set()
    for t in threads:
        t.join(10)
    ex.shutdown()
    assert order == [0, 1, 2, 3]


def test_an_adaptive_pool_works_in_a_fork_child(child):
    """The controller's thread does not survive a fork: the child's first submission
    starts its own, and the child's pool shuts down clean."""
    child("""
        import os, time
        import gothreads
        from gothreads import _testing
        ex = gothreads.ThreadPoolExecutor(4, adaptive=True, max_pending=8)
        assert ex.submit(pow, 2, 5).result() == 32
        parent_ticker = ex._pool.ticker_thread()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                assert [f.result(timeout=20) for f in
                        [ex.submit(pow, 3, i) for i in range(20)]] == [3 ** i for i in range(20)]
                t = ex._pool.ticker_thread()
                assert t is not None and t is not parent_ticker and t.is_alive()
                assert ex.shutdown(wait=True, timeout=20) is True
                assert not t.is_alive()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        ex.shutdown()
        _testing.assert_balanced()
    """, timeout=90)
