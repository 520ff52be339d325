"""Beyond the stdlib: resize, exit_thread (with the template thread), stats, shutdown
timeout, context propagation, exit without join, map(buffersize)."""
import contextvars
import itertools
import os
import threading
import time

import pytest

import gothreads


pytestmark = pytest.mark.usefixtures("hang_guard")


def wait_until(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


# ---- resize -------------------------------------------------------------------------

def test_resize_grows_for_queued_work_and_shrinks_idle():
    ex = gothreads.ThreadPoolExecutor(2, idle_timeout=None)
    running = threading.Semaphore(0)
    gate = threading.Event()

    def task():
        running.release()
        gate.wait(10)

    fs = [ex.submit(task) for _ in range(6)]
    for _ in range(2):
        assert running.acquire(timeout=5)
    assert ex.stats().workers == 2 and ex.stats().pending == 4
    ex.resize(max_workers=6)
    for _ in range(4):
        assert running.acquire(timeout=5)  # queued work started at once
    assert ex._max_workers == 6 and ex.stats().workers == 6
    gate.set()
    for f in fs:
        f.result(timeout=5)
    wait_until(lambda: ex.stats().idle == 6)
    ex.resize(max_workers=1)
    wait_until(lambda: ex.stats().workers == 1)
    # Still serves, and never with more than one worker.
    names = {ex.submit(lambda: threading.current_thread().name).result() for _ in range(20)}
    assert len(names) == 1
    ex.resize(min_workers=1)
    assert ex._pool.min_workers == 1
    ex.shutdown()
    with pytest.raises(RuntimeError):
        ex.resize(max_workers=3)


def test_resize_below_a_starting_worker_loses_no_task():
    # submit starts a second worker with the task as its first; the resize right after
    # makes that worker surplus before it has taken the task.  It must hand the task
    # back, not leave with it.
    for _ in range(10):
        with gothreads.ThreadPoolExecutor(2, idle_timeout=None) as ex:
            gate = threading.Event()
            busy = ex.submit(gate.wait, 10)
            wait_until(busy.running)
            f = ex.submit(pow, 2, 10)
            ex.resize(max_workers=1)
            gate.set()
            assert f.result(timeout=5) == 1024


@pytest.mark.parametrize("end", ["drain", "shutdown-midway"])
def test_pool_survives_chaos(child, end):
    # Six submitters (some tasks leave through exit_thread, some futures are
    # cancelled), a thread resizing the pool at random, workers retiring at once, a
    # 1 us switch interval; then the submitters finish, or shutdown(cancel_futures=True)
    # cuts them off midway.  Every future must end done (completed or cancelled) and
    # the pool empty.  (This found a task lost by a worker made surplus before it
    # took its first task.)
    p = child("""
        END = @END@
        import random, sys, threading, time
        import concurrent.futures as cf
        import gothreads
        from gothreads import _testing
        sys.setswitchinterval(1e-6)
        random.seed(7)
        ex = gothreads.ThreadPoolExecutor(3, idle_timeout=0)
        stop = time.monotonic() + 3
        errors = []

        def task(i, leave):
            if leave:
                gothreads.exit_thread()
            return i

        def submitter(k):
            r = random.Random(k)
            while time.monotonic() < stop:
                try:
                    fs = [ex.submit(task, i, r.random() < 0.05) for i in range(r.randint(1, 10))]
                except RuntimeError:
                    assert END != "drain"
                    return  # shut down
                if r.random() < 0.2:
                    for f in fs[::2]:
                        f.cancel()
                for i, f in enumerate(fs):
                    try:
                        if f.result(timeout=20) != i:
                            errors.append(("wrong result", i))
                    except cf.CancelledError:
                        pass
                    except cf.TimeoutError:
                        # cancel_futures leaves futures CANCELLED, as the stdlib does
                        if not (END != "drain" and f.cancelled()):
                            errors.append(("timeout", f._state, ex.stats()))
                    except Exception as e:
                        errors.append((repr(e), f._state, ex.stats()))

        def resizer():
            r = random.Random(99)
            while time.monotonic() < stop:
                m = r.randint(1, 6)
                try:
                    ex.resize(max_workers=m, min_workers=r.randint(0, m))
                except RuntimeError:
                    assert END != "drain"
                    return  # shut down
                time.sleep(r.random() * 0.003)

        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(6)]
        threads.append(threading.Thread(target=resizer))
        for t in threads:
            t.start()
        if END != "drain":
            time.sleep(1.5)
            assert ex.shutdown(wait=True, cancel_futures=True, timeout=30)
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a submitter hung"
        assert not errors, errors[:3]
        assert ex.shutdown(wait=True, timeout=30)
        st = ex.stats()
        assert (st.workers, st.idle, st.busy, st.pending) == (0, 0, 0, 0), st
        _testing.assert_balanced()
        print(st.submitted, "tasks,", st.threads_created, "threads")
    """.replace("@END@", repr(end)))
    print(p.stdout)


def test_resize_shrinks_busy_workers_when_they_are_next_idle():
    with gothreads.ThreadPoolExecutor(4, idle_timeout=None) as ex:
        gate = threading.Barrier(5)
        fs = [ex.submit(gate.wait, 10) for _ in range(4)]
        gate.wait(10)
        ex.resize(max_workers=2)
        for f in fs:
            f.result(timeout=5)
        wait_until(lambda: ex.stats().workers == 2)
        assert ex.stats().threads_exited == 2


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(max_workers=0), ValueError),
        (dict(max_workers="3"), TypeError),
        (dict(max_workers=2.5), TypeError),
        (dict(min_workers=-1), ValueError),
        (dict(min_workers=5), ValueError),  # more than max_workers=2
        (dict(max_workers=1, min_workers=2), ValueError),
    ],
)
def test_resize_bad_arguments(kwargs, exc):
    with gothreads.ThreadPoolExecutor(2) as ex:
        with pytest.raises(exc):
            ex.resize(**kwargs)
        assert ex._max_workers == 2 and ex._pool.min_workers == 0
        assert ex.submit(pow, 2, 2).result() == 4


# ---- exit_thread and clean creation ---------------------------------------------------

def test_exit_thread_outside_a_worker_is_an_error():
    with pytest.raises(RuntimeError, match="exit_thread"):
        gothreads.exit_thread()
    t = threading.Thread(target=lambda: None)
    errors = []

    def in_thread():
        try:
            gothreads.exit_thread()
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    assert len(errors) == 1


def test_exit_thread_retires_the_worker_and_delivers_the_result():
    with gothreads.ThreadPoolExecutor(2, idle_timeout=None) as ex:
        first = ex.submit(lambda: threading.current_thread()).result()

        def tainted():
            gothreads.exit_thread()
            return threading.get_ident()

        assert ex.submit(tainted).result() == first.ident
        first.join(5)
        assert not first.is_alive()
        assert ex.submit(lambda: threading.current_thread()).result() is not first
        assert ex.stats().threads_exited == 1


def test_futures_completed_by_hand_lose_no_other_task(caplog):
    # Future.set_result is public: a caller may complete a pending or running future
    # itself.  The worker then fails to start or to complete it (the stdlib's worker
    # dies of it); ours logs it and goes on, and the tasks queued behind it run.
    with gothreads.ThreadPoolExecutor(1, idle_timeout=None) as ex:
        gate = threading.Event()
        running = ex.submit(gate.wait, 10)
        pending = ex.submit(pow, 2, 2)
        behind = [ex.submit(pow, 2, i) for i in range(5)]
        wait_until(running.running)
        running.set_result("by hand")
        pending.set_result("by hand too")
        gate.set()
        assert [f.result(timeout=10) for f in behind] == [1, 2, 4, 8, 16]
        assert running.result() == "by hand" and pending.result() == "by hand too"
        wait_until(lambda: ex.stats().busy == 0)
        st = ex.stats()
        assert (st.workers, st.threads_created, st.pending) == (1, 1, 0), st
    logged = [r.getMessage() for r in caplog.records]
    assert any("completing a task's future" in m for m in logged), logged
    assert any("starting a task's future" in m for m in logged), logged


def test_shutdown_waits_for_the_replacement_of_an_exited_worker():
    # The only worker leaves through exit_thread() while work is queued: the pool starts
    # a replacement for it, after shutdown() took its list of workers to wait for.
    ex = gothreads.ThreadPoolExecutor(1, idle_timeout=None)
    leaving = threading.Event()

    def leave():
        gothreads.exit_thread()
        leaving.wait(10)

    ex.submit(leave)
    queued = ex.submit(time.sleep, 0.3)
    done = threading.Thread(target=ex.shutdown)
    done.start()
    time.sleep(0.05)  # shutdown() has its list: the first worker only
    leaving.set()
    done.join(10)
    assert not done.is_alive()
    assert queued.done(), "shutdown(wait=True) returned before queued work ran"
    assert ex.stats().workers == 0 and ex.stats().threads_created == 2


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_tainted_affinity_never_spreads(child):
    # A task pins its worker to one CPU.  Workers created while it is pinned -- even by
    # that very task -- must have the full affinity: Ms never create Ms themselves.
    child("""
        import os, threading, gothreads
        full = os.sched_getaffinity(0)
        one = {min(full)}
        ex = gothreads.ThreadPoolExecutor(8, idle_timeout=None)
        def affinity():
            return os.sched_getaffinity(0)
        def pin_and_spawn():
            os.sched_setaffinity(0, one)
            gate = threading.Barrier(4)
            def held():
                gate.wait(10)
                return os.sched_getaffinity(0)
            inner = [ex.submit(held) for _ in range(3)]   # new workers, created from here
            gate.wait(10)
            got = [f.result(10) for f in inner]
            gothreads.exit_thread()
            return os.sched_getaffinity(0), got
        mine, spawned = ex.submit(pin_and_spawn).result(10)
        assert mine == one, mine
        assert all(a == full for a in spawned), spawned
        gate = threading.Barrier(9)
        later = [ex.submit(lambda: (gate.wait(10), affinity())[1]) for _ in range(8)]
        gate.wait(10)
        assert all(f.result(10) == full for f in later)
        assert ex.stats().threads_exited == 1
        ex.shutdown()
    """)


# ---- stats ---------------------------------------------------------------------------

def test_stats_counts():
    with gothreads.ThreadPoolExecutor(3, idle_timeout=None) as ex:
        st = ex.stats()
        assert st == gothreads.ExecutorStats(0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             st.stacks_reaped, st.stack_bytes_mapped)
        gate = threading.Event()
        blockers = [ex.submit(gate.wait, 10) for _ in range(3)]
        queued = [ex.submit(pow, 2, i) for i in range(5)]
        boom = ex.submit(divmod, 1, 0)
        wait_until(lambda: ex.stats().busy == 3)
        st = ex.stats()
        assert (st.workers, st.busy, st.idle, st.pending, st.submitted) == (3, 3, 0, 6, 9)
        gate.set()
        for f in blockers + queued:
            f.result(5)
        assert isinstance(boom.exception(5), ZeroDivisionError)
        wait_until(lambda: ex.stats().idle == 3)
        st = ex.stats()
        assert (st.completed, st.failed, st.busy, st.pending) == (8, 1, 0, 0)
        assert st.peak_workers == 3 and st.threads_created == 3 and st.threads_exited == 0
        assert st.stack_bytes_mapped > 0


# ---- shutdown(timeout) ------------------------------------------------------------------

def test_shutdown_timeout_returns_while_tasks_run():
    ex = gothreads.ThreadPoolExecutor(1)
    gate = threading.Event()
    f = ex.submit(gate.wait, 10)
    t0 = time.monotonic()
    assert ex.shutdown(timeout=0.1) is False
    assert time.monotonic() - t0 < 2
    assert not f.done()
    gate.set()
    assert f.result(5) is True
    assert ex.shutdown(timeout=5) is True
    assert ex.shutdown(wait=False) is False
    with pytest.raises(ValueError):
        ex.shutdown(timeout=-1)
    with pytest.raises(TypeError):
        ex.shutdown(timeout="1")


# ---- propagate_context -----------------------------------------------------------------

var = contextvars.ContextVar("var")


def test_propagate_context():
    var.set("submitter")
    with gothreads.ThreadPoolExecutor(1) as ex:
        with pytest.raises(LookupError):  # the stdlib's behaviour is the default
            ex.submit(var.get).result()
    with gothreads.ThreadPoolExecutor(1, propagate_context=True) as ex:
        assert ex.submit(var.get).result() == "submitter"
        assert list(ex.map(lambda _: var.get(), range(3))) == ["submitter"] * 3

        def change():
            var.set("task")
            return var.get()

        assert ex.submit(change).result() == "task"
        assert var.get() == "submitter"  # a copy: the task cannot change ours
    with pytest.raises(TypeError):
        gothreads.ThreadPoolExecutor(1, propagate_context=1)


# ---- join_at_exit=False -----------------------------------------------------------------

def test_exit_without_join(child):
    t0 = time.monotonic()
    p = child("""
        import sys, time, gothreads
        ex = gothreads.ThreadPoolExecutor(1, join_at_exit=False)
        started = __import__("threading").Event()
        def long():
            started.set()
            time.sleep(30)
            print("long finished")
        ex.submit(long)
        queued = [ex.submit(print, "queued ran") for _ in range(3)]
        started.wait(5)
        joined = gothreads.ThreadPoolExecutor(1)
        joined.submit(print, "joined ran")
        print("main done", flush=True)
    """, timeout=60)
    assert time.monotonic() - t0 < 20
    assert "main done" in p.stdout and "joined ran" in p.stdout
    assert "long finished" not in p.stdout and "queued ran" not in p.stdout
    assert p.stderr == ""
    with pytest.raises(TypeError):
        gothreads.ThreadPoolExecutor(1, join_at_exit="no")


# ---- map(buffersize) --------------------------------------------------------------------

def test_map_buffersize_bounds_read_ahead():
    taken = []

    def source():
        for i in itertools.count():
            taken.append(i)
            yield i

    with gothreads.ThreadPoolExecutor(4) as ex:
        it = ex.map(lambda x: x * x, source(), buffersize=3)
        time.sleep(0.05)
        assert len(taken) == 3
        got = [next(it) for _ in range(10)]
        assert got == [i * i for i in range(10)]
        assert len(taken) <= 10 + 3
        it.close()
        assert list(ex.map(pow, [2, 3], [2, 2], buffersize=1)) == [4, 9]
        assert list(ex.map(pow, [2, 3], [2, 2], buffersize=100)) == [4, 9]
        for bad, exc in ((0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError)):
            with pytest.raises(exc):
                ex.map(abs, [1], buffersize=bad)
