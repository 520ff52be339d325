"""gothreads.ThreadPoolExecutor: one conformance mixin run against the stdlib class and
ours (any difference is a bug), then what only ours does: shrinking, threading
integration, exit, fork, signals, bad arguments.  Tests that exit the interpreter, fork,
send signals or count the process's threads run in a child interpreter."""
import asyncio
import concurrent.futures as cf
import sys
import textwrap
import threading
import time
import weakref

import pytest

import gothreads

pytestmark = pytest.mark.usefixtures("hang_guard")


@pytest.fixture(params=["stdlib", "gothreads"])
def Executor(request):
    if request.param == "stdlib":
        return cf.ThreadPoolExecutor
    return gothreads.ThreadPoolExecutor


# ---- conformance: the same assertions for both classes ------------------------------

class TestConformance:
    def test_submit_result(self, Executor):
        with Executor(2) as ex:
            assert ex.submit(pow, 2, 10).result() == 1024
            assert ex.submit(dict, a=1).result() == {"a": 1}

    def test_submit_fn_is_positional_only(self, Executor):
        with Executor(1) as ex:
            assert ex.submit(lambda **kw: kw, fn=1).result() == {"fn": 1}
            with pytest.raises(TypeError):
                ex.submit()

    def test_exceptions_reach_the_future(self, Executor):
        class Custom(BaseException):
            pass

        def raise_(exc):
            raise exc

        with Executor(2) as ex:
            for exc in (ValueError("v"), KeyboardInterrupt(), SystemExit(3), Custom()):
                f = ex.submit(raise_, exc)
                assert f.exception() is exc
            # The pool survives them all.
            assert ex.submit(int, "7").result() == 7

    def test_map_order_timeout_and_exceptions(self, Executor):
        with Executor(3) as ex:
            assert list(ex.map(pow, range(10), range(10))) == [pow(i, i) for i in range(10)]
            assert list(ex.map(abs, range(-50, 50), chunksize=7)) == [abs(i) for i in range(-50, 50)]
            it = ex.map(divmod, [1, 1, 1], [1, 0, 1])
            assert next(it) == (1, 0)
            with pytest.raises(ZeroDivisionError):
                next(it)
            with pytest.raises(cf.TimeoutError):
                list(ex.map(time.sleep, [0.5], timeout=0.01))

    def test_map_raises_in_place(self, Executor):
        seen = []

        def f(i):
            seen.append(i)
            if i == 3:
                raise ValueError(i)
            return i

        with Executor(2) as ex:
            it = ex.map(f, range(500))
            assert [next(it) for _ in range(3)] == [0, 1, 2]
            with pytest.raises(ValueError):
                next(it)
            # The exception ends the iteration, which cancels what has not started.
            with pytest.raises(StopIteration):
                next(it)
        assert set(range(4)) <= set(seen)

    def test_map_drops_results_it_yielded(self, Executor):
        class Obj:
            pass

        with Executor(2) as ex:
            for obj in ex.map(lambda _: Obj(), range(300)):
                ref = weakref.ref(obj)
                del obj
                assert ref() is None

    def test_map_submits_eagerly(self, Executor):
        seen = []
        ex = Executor(2)
        ex.map(seen.append, range(20))
        ex.shutdown(wait=True)
        assert sorted(seen) == list(range(20))

    def test_wait_and_as_completed(self, Executor):
        with Executor(4) as ex:
            fs = [ex.submit(time.sleep, 0.01 * (i % 3)) for i in range(12)]
            done, not_done = cf.wait(fs, return_when=cf.ALL_COMPLETED)
            assert done == set(fs) and not not_done
            fs = [ex.submit(pow, i, 2) for i in range(20)]
            assert sorted(f.result() for f in cf.as_completed(fs)) == [i * i for i in range(20)]
            first = ex.submit(time.sleep, 0.01)
            slow = ex.submit(time.sleep, 0.5)
            done, not_done = cf.wait([first, slow], return_when=cf.FIRST_COMPLETED)
            assert first in done

    def test_waiters_on_overlapping_done_and_pending_futures(self, Executor):
        # Several threads wait (cf.wait, as_completed) on overlapping sets of done and
        # pending futures while workers finish them, with a tiny switch interval.  A
        # finished gothreads future's "condition" is one shared no-op lock: no set
        # of waiters may deadlock on it, miss a completion, or leave a waiter behind.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            with Executor(4) as ex:
                for _ in range(30):
                    done = [ex.submit(pow, i, 2) for i in range(20)]
                    cf.wait(done)
                    gate = threading.Event()
                    pending = [ex.submit(gate.wait, 10) for _ in range(3)]
                    pending += [ex.submit(pow, i, 3) for i in range(20)]
                    fs = done + pending
                    seen = []

                    def waiter(k):
                        mine = fs[k::2] + fs[:5]
                        if k % 2:
                            got = list(cf.as_completed(mine, timeout=10))
                        else:
                            got, rest = cf.wait(mine, timeout=10)
                            assert not rest
                        seen.append(len(set(got)) == len(set(mine)))

                    threads = [threading.Thread(target=waiter, args=(k,)) for k in range(4)]
                    for t in threads:
                        t.start()
                    gate.set()
                    for t in threads:
                        t.join(20)
                    assert seen == [True] * 4
                    assert all(not f._waiters for f in fs)
                f = ex.submit(pow, 2, 2)
                f.result()
                with f._condition:  # a finished future's lock works as a lock
                    assert f.done() and f.result() == 4
        finally:
            sys.setswitchinterval(interval)

    def test_callbacks_and_cancel(self, Executor):
        gate = threading.Event()
        with Executor(1) as ex:
            blocker = ex.submit(gate.wait)
            queued = ex.submit(pow, 2, 2)
            assert queued.cancel() and queued.cancelled()
            got = []
            f = ex.submit(pow, 3, 2)
            f.add_done_callback(lambda fut: got.append(fut.result()))
            gate.set()
            blocker.result()
            f.result()
        assert got == [9]

    def test_future_waits_while_running(self, Executor):
        # Every way of waiting, started while the task runs, sees it complete.
        gate, started = threading.Event(), threading.Event()

        def task():
            started.set()
            gate.wait(10)
            return 7

        with Executor(2) as ex:
            f = ex.submit(task)
            assert started.wait(10)
            assert f.running() and not f.done() and not f.cancelled()
            assert "running" in repr(f)
            with pytest.raises(cf.TimeoutError):
                f.result(timeout=0.02)
            with pytest.raises(cf.TimeoutError):
                f.exception(timeout=0.02)
            seen = []
            f.add_done_callback(lambda fut: seen.append(("callback", fut.result())))
            waiters = [
                threading.Thread(target=lambda: seen.append(("wait", len(cf.wait([f], 10).done)))),
                threading.Thread(target=lambda: seen.append(
                    ("as_completed", [x.result() for x in cf.as_completed([f], 10)]))),
                threading.Thread(target=lambda: seen.append(("result", f.result(10)))),
            ]
            for t in waiters:
                t.start()
            time.sleep(0.05)
            gate.set()
            for t in waiters:
                t.join(10)
            assert sorted(seen) == [("as_completed", [7]), ("callback", 7), ("result", 7),
                                    ("wait", 1)]
            assert f.done() and f.result() == 7 and f.exception() is None
            assert "finished returned int" in repr(f)

    def test_done_callbacks_where_and_errors(self, Executor, caplog):
        # Added while pending: runs on the worker when the task ends.  Added when done:
        # runs at once in the caller.  A callback that raises is logged, not raised.
        gate = threading.Event()
        ran = []
        with Executor(1) as ex:
            f = ex.submit(gate.wait, 10)
            f.add_done_callback(lambda fut: ran.append(("pending", threading.current_thread())))
            f.add_done_callback(lambda fut: 1 / 0)
            gate.set()
            f.result(10)
            deadline = time.monotonic() + 10
            while not ran and time.monotonic() < deadline:
                time.sleep(0.001)
            f.add_done_callback(lambda fut: ran.append(("done", threading.current_thread())))
        assert [w for w, _ in ran] == ["pending", "done"]
        assert ran[0][1] is not threading.current_thread()
        assert ran[1][1] is threading.current_thread()
        assert "exception calling callback" in caplog.text

    def test_concurrent_first_callbacks_all_run(self, Executor):
        # Four threads add a callback to each of many pending futures at once, with the
        # GIL switched as often as it can be: every callback runs exactly once.  (With
        # gothreads' lazily made callback list not installed atomically, this lost
        # callbacks.)
        gate = threading.Event()
        interval = sys.getswitchinterval()
        with Executor(1) as ex:
            ex.submit(gate.wait, 30)
            fs = [ex.submit(int) for _ in range(20000)]
            counts = [0] * len(fs)

            def adder():
                for i, f in enumerate(fs):
                    f.add_done_callback(lambda _, i=i: counts.__setitem__(i, counts[i] + 1))

            threads = [threading.Thread(target=adder) for _ in range(4)]
            sys.setswitchinterval(1e-6)
            try:
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            finally:
                sys.setswitchinterval(interval)
            gate.set()
        assert counts == [4] * len(fs)

    def test_future_completion_races_waiters(self, Executor):
        # Waiters, callbacks and cancels land while workers complete the same futures:
        # each callback runs once, every wait ends, every result is right.
        calls = []
        with Executor(2) as ex:
            for round_ in range(300):
                fs = [ex.submit(pow, i, 2) for i in range(8)]
                fs[round_ % 8].add_done_callback(calls.append)
                if round_ % 3 == 0:
                    fs[-1].cancel()
                done, _ = cf.wait(fs, timeout=10)
                assert len(done) == 8
                for i, f in enumerate(fs):
                    if not f.cancelled():
                        assert f.result(10) == i * i
        assert len(calls) == 300 and len(set(map(id, calls))) == 300

    def test_shutdown_semantics(self, Executor):
        ex = Executor(2)
        fs = [ex.submit(time.sleep, 0.05) for _ in range(10)]
        ex.shutdown(wait=True, cancel_futures=True)
        assert all(f.done() for f in fs)
        assert any(f.cancelled() for f in fs)
        with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
            ex.submit(pow, 2, 2)
        ex.shutdown()  # idempotent
        assert ex._shutdown

    def test_shutdown_nowait_still_runs_queued(self, Executor):
        ex = Executor(2)
        fs = [ex.submit(pow, i, 2) for i in range(20)]
        ex.shutdown(wait=False)
        assert [f.result(timeout=10) for f in fs] == [i * i for i in range(20)]
        for t in list(ex._threads):
            t.join()

    def test_initializer(self, Executor):
        local = threading.local()

        def init(v):
            local.v = v

        with Executor(2, initializer=init, initargs=(5,)) as ex:
            assert ex.submit(lambda: local.v).result() == 5

    def test_failing_initializer_breaks_pool(self, Executor, caplog):
        def bad():
            raise ValueError("error in initializer")

        ex = Executor(2, initializer=bad)
        with caplog.at_level("CRITICAL", logger="concurrent.futures"):
            try:
                f = ex.submit(pow, 2, 2)
            except cf.BrokenExecutor:
                pass
            else:
                with pytest.raises(cf.BrokenExecutor):
                    f.result(timeout=10)
            deadline = time.time() + 10
            while not ex._broken:
                assert time.time() < deadline
                time.sleep(0.01)
            with pytest.raises(cf.BrokenExecutor):
                ex.submit(pow, 2, 2)
        assert any("Exception in initializer" in r.getMessage() for r in caplog.records)
        assert any("error in initializer" in r.exc_text or "" for r in caplog.records if r.exc_text)
        ex.shutdown()

    def test_initargs_any_sequence_and_any_prefix(self, Executor):
        seen = []
        with Executor(1, initializer=seen.append, initargs=["list"],
                      thread_name_prefix=42) as ex:
            assert ex.submit(lambda: threading.current_thread().name).result() == "42_0"
        assert seen == ["list"]

    def test_argument_errors_match(self, Executor):
        for bad in (0, -1):
            with pytest.raises(ValueError, match="max_workers must be greater than 0"):
                Executor(max_workers=bad)
        with pytest.raises(TypeError, match="initializer must be a callable"):
            Executor(initializer=42)
        with pytest.raises(TypeError):
            Executor(max_workers="4")

    def test_private_attributes(self, Executor):
        import os
        ex = Executor()
        if sys.version_info >= (3, 13):
            assert ex._max_workers == min(32, (os.process_cpu_count() or 1) + 4)
        else:
            assert ex._max_workers == min(32, (os.cpu_count() or 1) + 4)
        gate = threading.Event()
        ex2 = Executor(2)
        for _ in range(6):
            ex2.submit(gate.wait)
        assert len(ex2._threads) == 2
        assert ex2._work_queue.qsize() == 4
        assert not ex2._broken and not ex2._shutdown
        gate.set()
        ex2.shutdown()
        ex.shutdown()

    def test_idle_thread_reuse(self, Executor):
        with Executor() as ex:
            for i in range(5):
                assert ex.submit(pow, i, 2).result() == i * i
            assert len(ex._threads) == 1

    def test_thread_names_and_current_thread(self, Executor):
        with Executor(3, thread_name_prefix="Special") as ex:
            gate = threading.Barrier(3)

            def who():
                gate.wait(5)
                t = threading.current_thread()
                return t.name, t in threading.enumerate(), t.ident == threading.get_ident()

            got = [f.result() for f in [ex.submit(who) for _ in range(3)]]
        for name, listed, same in got:
            assert name.startswith("Special_") and name[-1] in "012"
            assert listed and same
        default = Executor(1)
        assert default.submit(lambda: threading.current_thread().name).result().startswith(
            "ThreadPoolExecutor-")
        default.shutdown()

    def test_no_stale_references(self, Executor):
        class Obj:
            def method(self):
                pass

        collected = threading.Event()
        with Executor(2) as ex:
            o = Obj()
            ref = weakref.ref(o, lambda _: collected.set())
            ex.submit(o.method)
            del o
            assert collected.wait(5)
            assert ref() is None

    def test_del_executor_shuts_down(self, Executor):
        ex = Executor(3)
        res = ex.map(abs, range(-5, 5))
        threads = ex._threads
        del ex
        for t in threads:
            t.join(10)
            assert not t.is_alive()
        assert list(res) == [abs(i) for i in range(-5, 5)]

    def test_asyncio(self, Executor):
        async def main(ex):
            loop = asyncio.get_running_loop()
            r1 = await loop.run_in_executor(ex, pow, 2, 5)
            loop.set_default_executor(ex)
            r2 = await asyncio.to_thread(pow, 3, 3) if hasattr(asyncio, "to_thread") else 27
            r3 = await asyncio.wrap_future(ex.submit(pow, 4, 2))
            return r1, r2, r3

        ex = Executor(2)
        assert asyncio.run(main(ex)) == (32, 27, 16)
        ex.shutdown()


# ---- what only gothreads does ------------------------------------------------------------

def test_exited_workers_need_no_garbage_collection():
    # A worker's thread object goes when its thread ends and nobody holds it: no
    # reference cycle is left for the collector, so threading forgets it at once
    # (threading._dangling, which CPython's test helpers count).
    import gc

    gc.disable()
    try:
        base = len(threading._dangling)
        ex = gothreads.ThreadPoolExecutor(4)
        list(ex.map(time.sleep, [0.01] * 8))
        refs = [weakref.ref(t) for t in ex._threads]
        assert len(refs) == 4
        ex.shutdown()
        del ex
        deadline = time.monotonic() + 5
        while any(r() is not None for r in refs) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(r() is None for r in refs), "a worker is only freed by the collector"
        assert len(threading._dangling) == base
    finally:
        gc.enable()


def test_is_a_stdlib_subclass_and_exports():
    assert issubclass(gothreads.ThreadPoolExecutor, cf.ThreadPoolExecutor)
    assert gothreads.Executor is gothreads.ThreadPoolExecutor
    assert gothreads.BrokenThreadPool is cf.thread.BrokenThreadPool


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        (dict(min_workers=-1), ValueError),
        (dict(min_workers=1.5), TypeError),
        (dict(min_workers="1"), TypeError),
        (dict(max_workers=2, min_workers=3), ValueError),
        (dict(idle_timeout=-1), ValueError),
        (dict(idle_timeout=float("nan")), ValueError),
        (dict(idle_timeout="10"), TypeError),
        (dict(idle_timeout=True), TypeError),
        (dict(stack_size=1000), ValueError),
        (dict(stack_size=1 << 40), ValueError),
        (dict(stack_size=2.0), TypeError),
        (dict(max_workers=0), ValueError),
        (dict(initializer="x"), TypeError),
    ],
)
def test_bad_arguments(kwargs, exc):
    # (and no thread is left behind: conftest.runtime_balance)
    with pytest.raises(exc):
        gothreads.ThreadPoolExecutor(**kwargs)


def test_idle_timeout_none_and_inf_mean_never():
    for t in (None, float("inf")):
        ex = gothreads.ThreadPoolExecutor(2, idle_timeout=t)
        assert ex._pool.idle_timeout is None
        ex.shutdown()


def test_deep_recursion_is_recursion_error(child):
    # At the default and at the smallest stack allowed: RecursionError, never a crash.
    child("""
        import json, pickle, gothreads
        from gothreads.executor import MIN_WORKER_STACK
        def recurse(n):
            return recurse(n + 1) + 1
        def nested():
            caught = 0
            l, d = [], {}
            for _ in range(200000):
                l, d = [l], {"a": d}
            for f in (repr, json.dumps, pickle.dumps):
                for obj in (l, d):
                    try:
                        f(obj)
                    except RecursionError:
                        caught += 1
            return caught
        for size in (None, MIN_WORKER_STACK):
            with gothreads.ThreadPoolExecutor(1, stack_size=size) as ex:
                try:
                    ex.submit(recurse, 0).result()
                except RecursionError:
                    pass
                else:
                    raise AssertionError("no RecursionError")
                assert ex.submit(nested).result() == 6
    """)
    with pytest.raises(ValueError):
        gothreads.ThreadPoolExecutor(stack_size=gothreads.executor.MIN_WORKER_STACK - 4096)


def test_os_thread_name(child):
    child("""
        import gothreads, threading
        def comm():
            with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
                return f.read().strip()
        with gothreads.ThreadPoolExecutor(1, thread_name_prefix="averyveryverylongprefix") as ex:
            assert ex.submit(comm).result() == "averyveryverylongprefix_0"[:15]
    """)


SHRINK = textwrap.dedent("""
    import gc, os, threading, time
    import gothreads
    from gothreads import _testing, runtime

    def settle():
        # A joined worker has finished its Python code; its thread may still be on
        # its way out of C (mexit, glibc's exit) for a moment.
        _testing.unbalanced()
        gc.collect()

    def snapshot():
        st = runtime.stats()
        return dict(threads=os_threads(), enumerate=len(threading.enumerate()),
                    stack_kb=(st["stack_bytes_mapped"]) // 1024,
                    cached=st["stacks_cached"], maps=maps_lines(),
                    rss=proc_status("VmRSS"))
""")


def test_burst_returns_to_baseline(child):
    p = child(SHRINK + textwrap.dedent("""
        settle()
        base = snapshot()
        ex = gothreads.ThreadPoolExecutor(32, idle_timeout=0.2)
        gate = threading.Barrier(33)
        fs = [ex.submit(gate.wait, 10) for _ in range(32)]
        gate.wait(10)
        for f in fs:
            f.result()
        peak = snapshot()
        deadline = time.time() + 10
        # The workers retire after 0.2 s idle; the template thread that created them
        # 0.5 s after the last M is gone.
        while (len(ex._threads) or os_threads() > base["threads"]) and time.time() < deadline:
            time.sleep(0.05)
        settle()
        after = snapshot()
        print("base", base); print("peak", peak); print("after", after)
        # 32 workers and the template thread that created them (csrc/template.c).
        assert peak["threads"] == base["threads"] + 33, peak
        assert after["threads"] == base["threads"], after
        assert after["enumerate"] == base["enumerate"], after
        assert len(threading._active) == 1
        _testing.assert_balanced(timeout=0)
        st = runtime.stats()
        # Mapped stacks back to baseline plus the bounded cache.
        assert after["stack_kb"] <= base["stack_kb"] + st["stack_cache_limit"] * 8 * 1024 + 64, after
        # glibc keeps the malloc arenas its threads created (at most 8 per CPU, 2 maps
        # lines each): they are not ours to free, and the stdlib leaves the same.
        arenas = 8 * os.cpu_count()
        assert after["maps"] <= base["maps"] + 2 * st["stack_cache_limit"] + 2 * arenas + 8, after
        # And the pool still works, with fresh workers.
        assert ex.submit(pow, 2, 3).result() == 8
        ex.shutdown()
    """))
    print(p.stdout)


def test_min_workers_kept(child):
    child(SHRINK + textwrap.dedent("""
        ex = gothreads.ThreadPoolExecutor(8, min_workers=2, idle_timeout=0.05)
        gate = threading.Barrier(9)
        for _ in range(8):
            ex.submit(gate.wait, 10)
        gate.wait(10)
        time.sleep(0.6)
        assert len(ex._threads) == 2, ex._threads
        time.sleep(0.3)
        assert len(ex._threads) == 2, ex._threads
        assert all(t.is_alive() for t in ex._threads)
        ex.shutdown()
        assert len(ex._threads) == 0
    """))


def test_idle_pool_with_kept_workers_makes_no_wakeups(child):
    # An idle pool whose min_workers keeps a worker: no thread of the process wakes up
    # (the stdlib's idle workers do not either).  The runtime's template thread, which
    # creates the workers, used to look every 0.5 s whether it could exit.
    child(SHRINK + textwrap.dedent("""
        from gothreads.scenarios import thread_wakeups

        ex = gothreads.ThreadPoolExecutor(2, min_workers=1, idle_timeout=0.1)
        ex.submit(pow, 2, 3).result()
        time.sleep(0.8)  # past the idle timeout and any countdown
        before = thread_wakeups()
        assert any(t.endswith(" gothreads-tmpl") for t in before), before
        time.sleep(2.0)
        after = thread_wakeups()
        woke = {k: after[k] - before[k] for k in after if k in before and after[k] != before[k]}
        assert not woke, f"idle threads woke up: {woke}"
        assert ex.submit(pow, 2, 4).result() == 16
        ex.shutdown()
    """))


def test_lifo_reuse_lets_surplus_age_out(child):
    # Under a trickle of sequential work, one (the most recently idle) worker serves
    # everything and the rest time out.
    child(SHRINK + textwrap.dedent("""
        ex = gothreads.ThreadPoolExecutor(4, idle_timeout=0.3)
        gate = threading.Barrier(5)
        for _ in range(4):
            ex.submit(gate.wait, 10)
        gate.wait(10)
        time.sleep(0.05)
        names = set()
        t_end = time.time() + 1.2
        while time.time() < t_end:
            names.add(ex.submit(lambda: threading.current_thread().name).result())
            time.sleep(0.01)
        assert len(names) == 1, names
        assert len(ex._threads) == 1, ex._threads
        ex.shutdown()
    """))


def test_retire_vs_submit_race_loses_nothing(child):
    # idle_timeout=0: workers retire the moment they are idle, so every submit races a
    # retiring worker.  No task may be lost or left without a worker.
    p = child(SHRINK + textwrap.dedent("""
        import random
        for timeout in (0, 0.0005, 0.002):
            ex = gothreads.ThreadPoolExecutor(4, idle_timeout=timeout)
            n = 0
            for burst in range(300):
                fs = [ex.submit(pow, i, 2) for i in range(random.randint(1, 6))]
                for i, f in enumerate(fs):
                    assert f.result(timeout=10) == i * i
                n += len(fs)
                if burst % 7 == 0:
                    time.sleep(random.random() * 0.003)
            ex.shutdown()
            print(timeout, n, "tasks, threads created", ex._pool.threads_created)
        _testing.assert_balanced()
    """))
    print(p.stdout)


def test_pool_state_survives_many_submitters(child):
    # Eight threads submit to one pool whose workers retire the moment they are idle,
    # with a 1 us switch interval, so every step of the pool's state changes is raced.
    # The pool takes no lock (gothreads/_pool.pyx): every task must run exactly once and
    # the counts must add up.
    p = child(SHRINK + textwrap.dedent("""
        import random, sys, threading
        sys.setswitchinterval(1e-6)
        ex = gothreads.ThreadPoolExecutor(3, idle_timeout=0)
        ran = []
        def submitter(k):
            for burst in range(60):
                fs = [ex.submit(ran.append, (k, burst, i)) for i in range(random.randint(1, 8))]
                for f in fs:
                    assert f.result(timeout=20) is None
                if burst % 5 == 0:
                    time.sleep(random.random() * 0.002)
        threads = [threading.Thread(target=submitter, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert len(ran) == len(set(ran)), "a task ran twice"
        st = ex.stats()
        assert st.submitted == len(ran) == st.completed, st
        assert st.failed == 0 and st.pending == 0, st
        assert st.threads_created - st.threads_exited == st.workers <= 3, st
        ex.shutdown()
        _testing.assert_balanced()
        assert ex.stats().workers == 0
        print(len(ran), "tasks,", ex.stats().threads_created, "threads")
    """))
    print(p.stdout)


def test_interpreter_exit_finishes_queued_work(child):
    p = child("""
        import sys, time, gothreads
        ex = gothreads.ThreadPoolExecutor(2)
        def work(i):
            time.sleep(0.05)
            sys.stdout.write(f"done {i}\\n")
        for i in range(6):
            ex.submit(work, i)
        ex2 = gothreads.ThreadPoolExecutor(1)
        ex2.submit(work, 99)
        ex2.shutdown(wait=False)
    """)
    assert sorted(p.stdout.split("\n")[:-1]) == sorted(f"done {i}" for i in [0, 1, 2, 3, 4, 5, 99])
    assert p.stderr == ""


def test_submit_during_interpreter_shutdown(child):
    p = child("""
        import atexit, gothreads
        @atexit.register
        def late():
            try:
                ex.submit(id, None)
            except RuntimeError as e:
                print("refused:", e)
        ex = gothreads.ThreadPoolExecutor(2)
        ex.submit(id, 42).result()
    """)
    assert "refused: cannot schedule new futures after interpreter shutdown" in p.stdout


def test_fork_child_uses_inherited_executor(child):
    child("""
        import os, threading, time, gothreads
        from gothreads import runtime
        ex = gothreads.ThreadPoolExecutor(4)
        gate = threading.Event()
        running = [ex.submit(gate.wait) for _ in range(3)]   # busy during the fork
        assert ex.submit(pow, 2, 2).result() == 4
        parents = ex._threads
        pid = os.fork()
        if pid == 0:
            ok = runtime.stats()["ms_live"] == 0 and len(ex._threads) == 0
            ok = ok and not any(t.is_alive() for t in parents)
            ok = ok and ex.submit(pow, 3, 2).result(timeout=10) == 9
            ok = ok and list(ex.map(abs, range(-3, 0))) == [3, 2, 1]
            # only the main thread and fresh workers: none of the parent's
            ok = ok and set(threading.enumerate()) <= {threading.main_thread()} | ex._threads
            ex.shutdown()
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        gate.set()
        assert status == 0, status
        for f in running:
            f.result(timeout=10)
        ex.shutdown()
    """, timeout=60)


def test_fork_from_inside_a_task(child):
    child("""
        import os, gothreads
        def fork_and_wait():
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            return os.waitpid(pid, 0)[1]
        with gothreads.ThreadPoolExecutor(2) as ex:
            for _ in range(5):
                assert os.WEXITSTATUS(ex.submit(fork_and_wait).result(timeout=10)) == 7
            assert ex.submit(pow, 2, 5).result() == 32
    """, timeout=60)


def test_sigint_reaches_main_thread(child):
    # Ctrl-C inside `with executor:` behaves as with the stdlib: KeyboardInterrupt in the
    # main thread, while the workers (signals blocked) keep running their tasks.
    p = child("""
        import os, signal, threading, time, gothreads
        # A shell without job control starts background commands with SIGINT ignored,
        # and CPython then installs no handler: put back the one an interactive run has.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        started = threading.Event()
        def task():
            started.set()
            time.sleep(0.3)
            return threading.current_thread().name
        try:
            with gothreads.ThreadPoolExecutor(2) as ex:
                f = ex.submit(task)
                started.wait(5)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
                print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted in", threading.current_thread().name)
        print("task result", f.result(timeout=5))
    """)
    assert "interrupted in MainThread" in p.stdout
    assert "task result ThreadPoolExecutor-" in p.stdout


def test_worker_that_fails_to_register_loses_no_task(monkeypatch):
    # A worker whose thread runs but cannot register with threading: its first task
    # fails with the stdlib's error for a worker that cannot start (caused by this
    # one), the pool forgets it, and the next submit gets a fresh worker.
    from gothreads import executor as gx

    def boom(self):
        raise RuntimeError("cannot register")

    ex = gothreads.ThreadPoolExecutor(1, idle_timeout=None)
    monkeypatch.setattr(gx._Worker, "_register", boom)
    f = ex.submit(pow, 2, 2)
    with pytest.raises(RuntimeError, match="can't start new thread") as err:
        f.result(timeout=10)
    assert str(err.value.__cause__) == "cannot register"
    monkeypatch.undo()
    deadline = time.monotonic() + 10
    while ex.stats().workers and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ex.stats().workers == 0
    assert ex.submit(pow, 3, 2).result(timeout=10) == 9
    assert ex.shutdown(timeout=10)


def test_worker_that_fails_to_register_out_of_memory_loses_no_task(child):
    # The same when memory runs out: reporting the failure (logging a traceback) fails
    # too.  The task must still end and the pool forget the worker; before the pool
    # handed the task back first, the report's own MemoryError left the task pending
    # forever and interpreter exit waiting for a worker that was gone.
    p = child("""
        import gothreads
        from gothreads import executor as gx
        def boom(self):
            raise MemoryError
        def no_report(*a, **k):
            raise MemoryError
        ex = gothreads.ThreadPoolExecutor(1, idle_timeout=None)
        real_register, real_critical = gx._Worker._register, gx.LOGGER.critical
        gx._Worker._register, gx.LOGGER.critical = boom, no_report
        f = ex.submit(pow, 2, 2)
        try:
            f.result(timeout=10)
        except RuntimeError as e:
            print("task ended:", e, "from", type(e.__cause__).__name__)
        gx._Worker._register, gx.LOGGER.critical = real_register, real_critical
        print("next task", ex.submit(pow, 3, 2).result(timeout=10))
        print("shutdown", ex.shutdown(timeout=10))
    """, timeout=60)
    assert p.stdout.split("\n")[:3] == [
        "task ended: can't start new thread from MemoryError", "next task 9", "shutdown True"]


def test_thread_start_failure_loses_no_task(monkeypatch):
    from gothreads import executor as gx

    real = gx._runtime.start_python_m
    ex = gothreads.ThreadPoolExecutor(4, idle_timeout=None)
    # No worker at all: submit raises as the stdlib's does, and nothing stays queued.
    monkeypatch.setattr(gx._runtime, "start_python_m", lambda *a: (_ for _ in ()).throw(
        RuntimeError("can't start new thread")))
    with pytest.raises(RuntimeError, match="can't start new thread"):
        ex.submit(pow, 2, 2)
    assert ex.stats().workers == 0 and ex.stats().pending == 0
    # One worker exists: a failed start hands the task to it.
    monkeypatch.setattr(gx._runtime, "start_python_m", real)
    gate = threading.Event()
    first = ex.submit(gate.wait, 10)
    monkeypatch.setattr(gx._runtime, "start_python_m", lambda *a: (_ for _ in ()).throw(
        RuntimeError("can't start new thread")))
    second = ex.submit(pow, 3, 2)
    assert ex.stats().workers == 1
    gate.set()
    assert first.result(5) is True and second.result(5) == 9
    monkeypatch.setattr(gx._runtime, "start_python_m", real)
    ex.shutdown()
