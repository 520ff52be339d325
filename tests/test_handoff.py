"""Blocking regions (Go's handoff): gothreads.blocking(), secede()/rejoin(),
handoff_on_wait and the max_threads ceiling.  Programs that can deadlock run in a child
that gives up after a timeout and leaves with os._exit (its workers never finish)."""
import concurrent.futures as cf
import threading
import time

import pytest

import gothreads

# A recursive fan-out: each task submits two and waits for both, down to `depth`.
# RUNNING counts the tasks running outside blocking regions; PEAK is its maximum, and a
# sampler thread records the pool's own count (stats().busy) at its largest.
FANOUT = '''
import concurrent.futures as cf, os, sys, threading, time
import gothreads
MODE = sys.argv[1] if len(sys.argv) > 1 else "{mode}"
if MODE == "stdlib":
    ex = cf.ThreadPoolExecutor(2)
else:
    ex = gothreads.ThreadPoolExecutor(2, handoff_on_wait=(MODE == "handoff_on_wait"),
                                      idle_timeout=0.05)
lock = threading.Lock()
RUNNING = [0]
PEAK = [0]
def enter():
    with lock:
        RUNNING[0] += 1
        PEAK[0] = max(PEAK[0], RUNNING[0])
def leave():
    with lock:
        RUNNING[0] -= 1
def results(fs, d):
    if MODE == "handoff_on_wait" and d % 2 == 0:
        cf.wait(fs)  # as well as result(): wait() and as_completed() hand off too
        return sorted(f.result() for f in cf.as_completed(fs))
    return [f.result() for f in fs]
def fan(d):
    enter()
    try:
        if d == 0:
            return 1
        fs = [ex.submit(fan, d - 1) for _ in range(2)]
        leave()
        try:
            if MODE == "blocking":
                with gothreads.blocking():
                    r = results(fs, d)
            else:
                r = results(fs, d)
        finally:
            enter()
        return sum(r)
    finally:
        leave()
BUSY = [0]
stop = threading.Event()
def sample():
    while not stop.is_set():
        if MODE != "stdlib":
            BUSY[0] = max(BUSY[0], ex.stats().busy)
        time.sleep(0.0005)
threading.Thread(target=sample, daemon=True).start()
f = ex.submit(fan, 8)
try:
    print("result", f.result(timeout={timeout}), "peak", PEAK[0], "busy", BUSY[0], flush=True)
except cf.TimeoutError:
    print("deadlocked", "peak", PEAK[0], flush=True)
    os._exit(0)
stop.set()
if MODE != "stdlib":
    deadline = time.monotonic() + 10
    while ex.stats().workers and time.monotonic() < deadline:
        time.sleep(0.01)
    st = ex.stats()
    print("after", st.workers, st.busy, st.seceded, "peak_workers", st.peak_workers)
ex.shutdown()
'''


@pytest.mark.parametrize("mode", ["blocking", "handoff_on_wait"])
def test_fanout_depth_8_on_two_workers_completes_with_handoff(child, mode):
    out = child(FANOUT.format(mode=mode, timeout=60), timeout=90).stdout.split()
    assert out[:2] == ["result", "256"], out
    # Tasks outside blocking regions never exceeded max_workers, by the tasks' own
    # count and by the pool's.
    assert int(out[3]) <= 2 and int(out[5]) <= 2, out
    # Then the extra threads all left (idle_timeout=0.05), nothing counted as busy.
    assert out[6:10] == ["after", "0", "0", "0"], out
    assert int(out[11]) > 2  # more threads than max_workers did run


@pytest.mark.parametrize("mode", ["stdlib", "none"])
def test_fanout_depth_8_on_two_workers_deadlocks_without_handoff(child, mode):
    # The same program without blocking regions deadlocks, in the stdlib as here: two
    # tasks wait, and the tasks they wait for stay queued.
    out = child(FANOUT.format(mode=mode, timeout=3), timeout=60).stdout.split()
    assert out[:2] == ["deadlocked", "peak"] and int(out[2]) <= 2, out


def test_outside_a_task_raises():
    for call in (gothreads.secede, gothreads.rejoin, gothreads.blocking().__enter__):
        with pytest.raises(RuntimeError, match="must be called from a task"):
            call()
    # In a thread of another pool, and in a gothreads worker's initializer (no task).
    with cf.ThreadPoolExecutor(1) as ex:
        with pytest.raises(RuntimeError, match="must be called from a task"):
            ex.submit(gothreads.secede).result(timeout=10)
    errors = []

    def init():
        try:
            gothreads.secede()
        except RuntimeError as e:
            errors.append(str(e))

    with gothreads.ThreadPoolExecutor(1, initializer=init) as ex:
        ex.submit(int).result(timeout=10)
    assert len(errors) == 1 and "must be called from a task" in errors[0]


def test_secede_twice_and_rejoin_without_secede_raise():
    def task():
        with pytest.raises(RuntimeError, match="not in a blocking region"):
            gothreads.rejoin()
        gothreads.secede()
        with pytest.raises(RuntimeError, match="already in a blocking region"):
            gothreads.secede()
        with gothreads.blocking():  # nests: does nothing inside a region
            pass
        seceded = ex.stats().seceded
        gothreads.rejoin()
        return seceded, ex.stats().seceded

    with gothreads.ThreadPoolExecutor(1) as ex:
        assert ex.submit(task).result(timeout=10) == (1, 0)


def test_stats_count_seceded_workers_and_a_task_may_end_seceded():
    ex = gothreads.ThreadPoolExecutor(2, idle_timeout=None)
    inside = threading.Barrier(4)
    go = threading.Event()

    def task(rejoin):
        gothreads.secede()
        inside.wait(timeout=10)
        go.wait(timeout=10)
        if rejoin:
            gothreads.rejoin()

    # Three tasks in blocking regions on a pool of two: each handed its slot off.
    fs = [ex.submit(task, i % 2) for i in range(3)]
    inside.wait(timeout=10)
    st = ex.stats()
    assert (st.workers, st.seceded, st.busy) == (3, 3, 0)
    go.set()
    cf.wait(fs, timeout=10)
    assert all(f.done() and f.exception() is None for f in fs)
    # Ending a task inside a region is its end too: nothing stays counted, and the
    # third thread, surplus now, leaves once it is next idle or woken.
    st = ex.stats()
    assert (st.busy, st.seceded) == (0, 0)
    assert [ex.submit(pow, 2, i).result(timeout=10) for i in range(4)] == [1, 2, 4, 8]
    assert ex.shutdown(timeout=10)


def test_rejoin_goes_on_at_once_and_queued_work_waits_for_the_cap():
    # max_workers=1.  A and B secede; C runs.  A and B leave their regions while C holds
    # the one slot: both go on at once (issue 20: waiting there hung programs that finish
    # without regions), three tasks now count, and the queued D starts only when the
    # count is back under max_workers: after A, B and C all ended.
    ex = gothreads.ThreadPoolExecutor(1, idle_timeout=None)
    log = []
    seceded = threading.Barrier(3)
    go, c_go = threading.Event(), threading.Event()

    def blocker(name):
        gothreads.secede()
        seceded.wait(timeout=10)
        go.wait(timeout=10)
        gothreads.rejoin()
        log.append(name + " in")
        c_go.wait(timeout=10)
        time.sleep(0.05)
        log.append(name + " out")

    fa = ex.submit(blocker, "A")
    fb = ex.submit(blocker, "B")
    seceded.wait(timeout=10)

    def c():
        log.append("C in")
        c_go.wait(timeout=10)
        log.append("C out")

    fc = ex.submit(c)
    while "C in" not in log:
        time.sleep(0.005)
    go.set()
    deadline = time.monotonic() + 10
    while not {"A in", "B in"} <= set(log) and time.monotonic() < deadline:
        time.sleep(0.005)
    fd = ex.submit(log.append, "D")
    time.sleep(0.1)
    st = ex.stats()
    assert (st.busy, st.seceded, st.pending) == (3, 0, 1), st
    assert "D" not in log
    c_go.set()
    cf.wait([fa, fb, fc, fd], timeout=10)
    assert log.index("D") == len(log) - 1 and len(log) == 7, log
    assert ex.shutdown(timeout=10)


def test_thread_ceiling_holds_and_queued_work_waits_there(child):
    # max_workers=1, max_threads=3: five tasks block in regions.  Three threads run
    # them; the other two tasks stay queued (no fourth thread) until a thread is free.
    p = child('''
        import threading, time, gothreads
        ex = gothreads.ThreadPoolExecutor(1, max_threads=3, idle_timeout=None)
        started = []
        go = threading.Event()
        def task(i):
            started.append(i)
            with gothreads.blocking():
                go.wait(timeout=30)
            return i
        fs = [ex.submit(task, i) for i in range(5)]
        time.sleep(0.5)
        st = ex.stats()
        print("at ceiling", sorted(started), st.workers, st.seceded, st.pending,
              os_threads() - 1)
        go.set()
        print("results", [f.result(timeout=10) for f in fs], ex.stats().peak_workers)
        ex.shutdown()
    ''', timeout=60)
    lines = p.stdout.splitlines()
    # OS threads: the three workers, plus the runtime's template thread.
    assert lines[0] == "at ceiling [0, 1, 2] 3 3 2 4", lines
    assert lines[1] == "results [0, 1, 2, 3, 4] 3", lines


def test_max_threads_and_handoff_on_wait_are_checked():
    with pytest.raises(ValueError, match="max_threads must not be less than max_workers"):
        gothreads.ThreadPoolExecutor(4, max_threads=3)
    with pytest.raises(TypeError, match="max_threads must be an int"):
        gothreads.ThreadPoolExecutor(4, max_threads=4.0)
    with pytest.raises(TypeError, match="handoff_on_wait must be True or False"):
        gothreads.ThreadPoolExecutor(4, handoff_on_wait=1)
    ex = gothreads.ThreadPoolExecutor(2, max_threads=4)
    with pytest.raises(ValueError, match="max_threads must not be less than max_workers"):
        ex.resize(max_workers=5)
    ex.resize(max_workers=4)
    assert ex.shutdown(timeout=10)


def test_handoff_on_wait_map_inside_a_task_on_one_worker(child):
    # A task that maps over its own executor and reads the results: one worker is
    # enough with handoff_on_wait, as with a bigger stdlib pool.
    p = child('''
        import gothreads
        ex = gothreads.ThreadPoolExecutor(1, handoff_on_wait=True)
        def outer():
            return sum(ex.map(abs, range(-50, 0)))
        print(ex.submit(outer).result(timeout=20))
        ex.shutdown()
    ''', timeout=60)
    assert p.stdout.strip() == str(sum(range(1, 51)))


def test_handoff_on_wait_leaves_other_waits_alone():
    # Outside its own tasks a handoff future waits as any other; inside them, a wait
    # on another executor's future is not a blocking region.
    other = gothreads.ThreadPoolExecutor(1)
    ex = gothreads.ThreadPoolExecutor(1, handoff_on_wait=True)
    assert ex.submit(pow, 2, 5).result(timeout=10) == 32

    def seen_by_other():
        time.sleep(0.1)  # while ex's task waits for this one
        return ex.stats().seceded, ex.stats().busy

    def task():
        return other.submit(seen_by_other).result(timeout=10)

    assert ex.submit(task).result(timeout=10) == (0, 1)

    def own():  # the control: a wait on its own executor's future is a region
        return ex.submit(lambda: ex.stats().seceded).result()

    assert ex.submit(own).result(timeout=10) == 1
    other.shutdown()
    ex.shutdown()


def test_handoff_on_wait_leaves_timed_waits_to_time_out():
    # A wait with a timeout is no region: leaving one may wait for a slot, and the
    # timeout must hold as in the stdlib (the queued child never runs on one worker).
    ex = gothreads.ThreadPoolExecutor(1, handoff_on_wait=True)
    go = threading.Event()

    def task():
        child = ex.submit(go.wait, 10)
        t = time.monotonic()
        outcomes = []
        for wait in (lambda: child.result(timeout=0.2),
                     lambda: cf.wait([child], timeout=0.2).not_done,
                     lambda: list(cf.as_completed([child], timeout=0.2))):
            try:
                outcomes.append(bool(wait()))
            except cf.TimeoutError:
                outcomes.append("timeout")
        return outcomes, time.monotonic() - t, ex.stats().seceded

    outcomes, took, seceded = ex.submit(task).result(timeout=20)
    go.set()
    assert outcomes == ["timeout", True, "timeout"]
    assert took < 3 and seceded == 0
    assert ex.shutdown(timeout=10)


def test_secede_that_cannot_make_a_worker_begins_no_region(monkeypatch):
    # Out of memory while secede() makes a worker for queued work: it raises, and the
    # task still counts as running outside a region (before, it stayed seceded with no
    # region to end it).
    from gothreads import executor as gx

    ex = gothreads.ThreadPoolExecutor(1, idle_timeout=None)

    def task():
        queued = ex.submit(pow, 2, 3)
        real = gx._Worker.__init__

        def no_memory(self, *a):
            raise MemoryError

        monkeypatch.setattr(gx._Worker, "__init__", no_memory)
        try:
            gothreads.secede()
        except MemoryError:
            pass
        finally:
            monkeypatch.setattr(gx._Worker, "__init__", real)
        st = ex.stats()
        return (st.busy, st.seceded), queued

    counts, queued = ex.submit(task).result(timeout=10)
    assert counts == (1, 0)
    assert queued.result(timeout=10) == 8
    assert ex.shutdown(timeout=10)


def test_rejoin_leaves_no_wakeup_on_the_note(child):
    # rejoin() must consume the wakeup _admit posts, even when the GIL is let go of
    # between its section and its sleep.  A build that woke workers with the GIL
    # released did so (a second pool resized up and down kept such wakeups coming);
    # _admit could then clear `rejoining` first, and a rejoin that did not sleep left
    # the post on its note, so the worker's next park returned at once, unclaimed
    # (found in review: 12 of 6000 rejoins).
    out = child('''
        import os, random, threading, time
        from concurrent.futures import wait
        from gothreads import ThreadPoolExecutor, secede, rejoin
        stop = False
        def kicker():
            side = ThreadPoolExecutor(max_workers=16, min_workers=16, idle_timeout=None)
            wait([side.submit(time.sleep, 0.01) for _ in range(16)])
            while not stop:
                time.sleep(0.002)
                side.resize(max_workers=16, min_workers=0)
                side.resize(max_workers=16, min_workers=16)
        threading.Thread(target=kicker, daemon=True).start()
        stale = total = 0
        lock = threading.Lock()
        def task(i):
            global stale, total
            secede()
            time.sleep(random.random() * 0.0005)
            rejoin()
            left = threading.current_thread()._slot.park.sleep(0)  # consumes a post
            with lock:
                stale += left
                total += 1
        for _ in range(10):
            ex = ThreadPoolExecutor(max_workers=2, max_threads=64, idle_timeout=None)
            def submitter():
                for f in [ex.submit(task, i) for i in range(200)]:
                    f.result(timeout=30)
            ts = [threading.Thread(target=submitter) for _ in range(3)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            ex.shutdown(wait=True)
        stop = True
        print(stale, total, flush=True)
        os._exit(0)
    ''', timeout=120).stdout.split()
    assert out == ["0", "6000"], out


def test_a_leftover_wakeup_does_not_make_an_idle_worker_look_claimed(child):
    # Defence in depth for the above: a wakeup left on an idle worker's note (posted
    # here by hand, from its own task) must not let its park return as if claimed; that
    # pushed the worker onto the idle stack twice, both copies could be claimed, and a
    # task submitted later waited for an idle timeout (or forever without one).
    out = child('''
        import os, threading
        from concurrent.futures import wait
        from gothreads import ThreadPoolExecutor
        ex = ThreadPoolExecutor(max_workers=2, idle_timeout=None)
        def leave_a_wakeup():
            threading.current_thread()._slot.park.wakeup()
        for _ in range(5):
            ex.submit(leave_a_wakeup).result(timeout=10)
            ev = threading.Event()
            fs = [ex.submit(ev.wait, 10) for _ in range(2)]
            ev.set()
            done, late = wait(fs, timeout=10)
            workers, idle = ex._pool.counts()[:2]
            print(len(late), int(idle <= workers), flush=True)
        os._exit(0)
    ''', timeout=120).stdout.split()
    assert out == ["0", "1"] * 5, out
