"""Differential testing of gothreads.ThreadPoolExecutor against the stdlib's.

A *program* is data (JSON): a pool size, a list of operations, and how it shuts down.
One interpreter (``Run``) runs a program on either executor and returns a *trace*: a
dict from an observation's name to what a user could see (a future's final state and
result, a callback's order and what it saw, map output and where it raised, what
wait/as_completed returned, that shutdown returned).  The stdlib is the oracle: a
gothreads trace must match the SET of traces the stdlib allows, which is the union of
several stdlib runs (``compare``), widened by rules for races the stdlib itself has
(``allowed_extra``, ``match``).  Each run happens in a child process (``Child``) with a
time limit, so a hang is a failure that names its program.

    python tests/differential.py --replay '<program json>'   # both sides, compared
    python tests/differential.py --run gothreads '<json>'    # one side, its trace

Task and callback bodies are lists of steps:
    ["ret", v]      observe v
    ["raise", v]    raise ValueError(v) (a task ends; a callback's error is logged)
    ["sleep", ms]   sleep (short)
    ["set", e]      set event e (of N_EVENTS, per program)
    ["wait", e]     wait for event e at most WAIT seconds: observe ["@wait", ok|timeout]
    ["sub", body]   submit body to the same executor and wait WAIT at most for it:
                    observe ["@sub", outcome]
                    After the program, either observation becomes "near" when another
                    thread made it come true within NEAR of its deadline, either side
                    (a race of timers: Run.settle_races); "near" is compared like any
                    other outcome, so the stdlib's runs must show it too.
    ["exit"]        gothreads.exit_thread() (the stdlib has no such call: a no-op)
A task's result is the list of its observations.

Operations (main thread; futures are numbered in submit order, a reference to one is
taken modulo how many exist):
    ["submit", body]            ["cb", ref, body]   (add_done_callback; on a future
                                that is not gated, once it is done)
    ["submit", body, True]      gated: the task first waits until ["open", ref] (or a
                                drain, or the end) opens its gate
    ["result", ref]             ["cancel", ref]
    ["submit_cb", body, cbbody] a gated submit, a callback added, the gate opened
    ["set", e]                  ["sleep", ms]
    ["drain"]                   open every gate, wait until every future so far is done
                                and every callback registered so far has returned
    ["map", spec]               see run_map
    ["wait_all", refs]          ["wait_first", refs]         ["as_completed", refs]
                                (result and these wait at most `limit`; a future that
                                ended within NEAR of that deadline is a race of timers,
                                shown apart: see Run.race_main)
    ["resize", min_workers]     gothreads: resize(max_workers unchanged, min_workers);
                                the stdlib: nothing (outcomes cannot differ)
    ["thread", ops]             another submitting thread runs ops (submit, result, map)
                                now; it is joined before shutdown
    ["hsubmit", body, mode]     a submit whose callable and argument have destructors
                                that let other threads run (mode "sleep" or "spin")
    ["pair", body, body]        ["burst", body, ...]    submits back to back (a pair,
                                after a drain: a task that waits for the event the
                                next one sets, each submit waking an idle worker)
    ["trickle", n, gap_ms]      n quick tasks one at a time, each waited for (WAIT),
                                gap_ms apart: each submit races a retiring worker
    ["hold_cancel", body]       after a drain, every worker held, the task submitted
                                and cancelled: queued for sure, so cancel() is True
                                and it never runs (observed: [name, returned, ran])
More steps: ["hret", v, mode] (a result with a slow destructor), ["xraise", kind]
(raise_kind), and in "features" programs ["block", body] and ["secede"] (blocking
regions; no-ops on the stdlib).
"""
import concurrent.futures as cf
import contextlib
import functools
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

WAIT = float(os.environ.get("GOTHREADS_FUZZ_WAIT", "0.4"))  # a bounded wait, seconds
NEAR = WAIT / 4  # an outcome decided this close to its deadline is a race of timers
N_EVENTS = 4
STDLIB_HAS_BUFFERSIZE = sys.version_info >= (3, 14)


# ---- the interpreter (runs in a child) ---------------------------------------------------

def outcome(fut, timeout):
    """What result(timeout) shows, as data."""
    try:
        return ["ok", fut.result(timeout)]
    except cf.CancelledError:
        return "cancelled"
    except cf.TimeoutError:
        return "timeout"
    except BaseException as exc:
        return ["exc", type(exc).__name__]


def final_state(fut):
    if fut.cancelled():
        return "cancelled"
    if not fut.done():
        return "pending"
    return outcome(fut, 0)


def budget(prog):
    """Seconds in which every future of a correct run completes: each blocking step is
    bounded by WAIT, and at worst they all run one after another."""
    text = json.dumps(prog)
    blocking = (text.count('"wait"') + text.count('"pwait"') + text.count('"sub"')
                + text.count('"bsub"') + text.count('"wait_'))
    for spec in _map_specs(prog["ops"]):
        blocking += spec["pairs"] + 1
    sleeps = text.count('"sleep"') * 0.1
    return 2.0 + WAIT * blocking * 1.5 + sleeps


def _map_specs(ops):
    for op in ops:
        if op[0] == "map":
            yield op[1]
        elif op[0] == "thread":
            yield from _map_specs(op[1])


_body = threading.local()  # .began: when the body (task or callback) running here began


def stamp():
    """What Run.settle_races needs to know of a thing that came true: when, on which
    thread, and when the body that made it began (-inf outside bodies: the program's own
    threads run all along)."""
    return time.monotonic(), threading.get_ident(), getattr(_body, "began", float("-inf"))


class StampedEvent(threading.Event):
    """An Event that remembers when, and by which thread, it was first set: its
    ``stamps``, a list of stamp() (one, or two if two threads set it at once)."""

    def __init__(self):
        super().__init__()
        self.stamps = []

    def set(self):
        if not self.stamps:
            self.stamps.append(stamp())
        super().set()


# ---- hostile objects: user code at every decref -------------------------------------------
#
# A destructor may let other threads run: one that sleeps (closes a file, takes a lock)
# releases the GIL, one that runs 6 ms of Python loses it at the switch interval.  The
# pool must have published everything before it drops a user object.

def hostile_pause(mode):
    if mode == "sleep":
        time.sleep(0.002)
    elif mode == "spin":
        end = time.perf_counter() + 0.006
        while time.perf_counter() < end:
            pass


class HInt(int):
    """An int (it is observed as one) whose destructor lets other threads run."""

    def __new__(cls, value, mode):
        self = int.__new__(cls, value)
        self.mode = mode
        return self

    def __del__(self):
        hostile_pause(self.mode)


class HError(ValueError):
    """A task's exception whose destructor lets other threads run."""

    def __init__(self, value, mode):
        super().__init__(value)
        self.mode = mode

    def __del__(self):
        hostile_pause(self.mode)


class HCall:
    """A callable whose destructor lets other threads run."""

    def __init__(self, fn, mode):
        self.fn, self.mode = fn, mode

    def __call__(self, *args):
        return self.fn(*args)

    def __del__(self):
        hostile_pause(self.mode)


class Witness:
    """A task's argument that notes, when the worker drops it, whether the task's
    future was already done: the stdlib publishes a task's outcome before it drops the
    task's callable and arguments, so a destructor that looks at the future sees it
    done.  "early" when the task ended before submit() returned (nothing to look at)."""

    def __init__(self, run, name, mode):
        self.run, self.name, self.mode = run, name, mode

    def __del__(self):
        f = self.run.futures.get(self.name)
        self.run.witness[self.name] = "early" if f is None else f.done()
        hostile_pause(self.mode)


BASE_ERRORS = {"KeyboardInterrupt": KeyboardInterrupt, "SystemExit": SystemExit,
               "GeneratorExit": GeneratorExit}


def raise_kind(kind, value=0):
    """Raise what a task may raise: ValueError, HError, a BaseException that is not an
    Exception, or a TypeError from C code (len() of an int)."""
    if kind == "C":
        len(value)
    elif kind in BASE_ERRORS:
        raise BASE_ERRORS[kind](value)
    elif kind in ("sleep", "spin"):
        raise HError(value, kind)
    raise ValueError(value)


class Run:
    """One program on one executor class ("stdlib" or "gothreads")."""

    def __init__(self, prog, impl):
        self.prog, self.impl = prog, impl
        self.obs = {}
        self.events = [StampedEvent() for _ in range(N_EVENTS)]
        self.futures = {}        # name -> Future, every future the program made
        self.main = []           # the main thread's futures, in submit order
        self.cb_order = {}       # future name -> callback ids, in the order they ran
        self.cb_obs = {}         # callback id -> its observations
        self.cb_registered = 0
        self.cb_returned = 0
        self.lock = threading.Lock()
        self.cancels = []        # (future name, what cancel() returned)
        self.cancelling = False
        self.gates = {}          # future name -> the Event its task starts by waiting for
        self.started = {}        # future name -> set when its gated task began
        self.ended = {}          # future name -> the stamp() of its task's end, if any
        self.held = []           # hold_cancel: (key, future name, what cancel() returned)
        self.witness = {}        # future name -> its Witness's finding
        self.stopped_maps = []   # maps left early: (key, items, [started, last activity])
        self.ran = set()         # hold_cancel's tasks that ran
        self.races = []          # bounded waits that returned late enough to be races
                                 # of timers: see race()
        self.limit = budget(prog)
        self.features = prog.get("features")
        if impl == "gothreads":
            import gothreads
            self.gothreads = gothreads
            kw = {}
            if self.features:
                kw = {"handoff_on_wait": self.features["handoff"],
                      "max_threads": self.features["max_threads"],
                      "idle_timeout": self.features.get("idle_timeout", 10.0),
                      "adaptive": bool(self.features.get("adaptive", False))}
            self.ex = gothreads.ThreadPoolExecutor(prog["workers"], **kw)
            if self.features and self.features.get("adaptive") == "limit 1":
                # held at one task at a time: only the starvation rule lets a task
                # that waits for a queued one go on (csrc/adapt.c)
                from gothreads import _testing
                _testing.force_adaptive_limit(self.ex, 1)
        else:
            self.ex = cf.ThreadPoolExecutor(prog["workers"])

    # -- bodies (on workers, or in callbacks) ----------------------------------------

    def steps(self, body, out, ended=None):
        """Run a body; with `ended`, append the stamp() of its end there."""
        outer, _body.began = getattr(_body, "began", float("-inf")), time.monotonic()
        region, _body.region = getattr(_body, "region", False), False
        try:
            return self.run_steps(body, out)
        finally:
            if ended is not None:
                ended.append(stamp())
            _body.began, _body.region = outer, region

    def region(self):
        """A blocking region for the body running here (gothreads.blocking); nothing on
        the stdlib, which has none, nor inside one."""
        if self.impl != "gothreads" or getattr(_body, "region", False):  # (map items)
            return contextlib.nullcontext()
        return self._region()

    @contextlib.contextmanager
    def _region(self):
        _body.region = True
        try:
            with self.gothreads.blocking():
                yield
        finally:
            _body.region = False

    def run_steps(self, body, out):
        for step in body:
            kind = step[0]
            if kind == "ret":
                out.append(step[1])
            elif kind == "raise":
                raise ValueError(step[1])
            elif kind == "ran":  # ["ran", name]: hold_cancel's task did run
                self.ran.add(step[1])
            elif kind == "hret":  # a result whose destructor lets other threads run
                out.append(HInt(step[1], step[2]))
            elif kind == "xraise":  # ["xraise", kind]: see raise_kind
                raise_kind(step[1], step[1] if step[1] == "C" else 0)
            elif kind == "block":  # ["block", body]: the body in a blocking region
                with self.region():
                    self.run_steps(step[1], out)
            elif kind == "bsub":  # ["bsub", v]: in a region, submit a quick task, wait WAIT
                if self.cancelling:
                    out.append(["@bsub", "RuntimeError"])
                    continue
                with self.region():
                    try:
                        f = self.ex.submit(self.stamped_task, [["ret", step[1]]], [])
                    except RuntimeError:
                        out.append(["@bsub", "RuntimeError"])
                        continue
                    out.append(["@bsub", outcome(f, WAIT)])
            elif kind == "secede":  # the rest of the task in a blocking region
                if self.impl == "gothreads" and not getattr(_body, "region", False):
                    self.gothreads.secede()
                    _body.region = True
            elif kind == "sleep":
                time.sleep(step[1] / 1000)
            elif kind == "set":
                self.events[step[1]].set()
            elif kind in ("wait", "pwait"):  # pwait: a pair's wait (compared strictly)
                ev = self.events[step[1]]
                began = time.monotonic()
                obs = ["@" + kind, "ok" if ev.wait(WAIT) else "timeout"]
                self.race(began + WAIT, {None: ev.stamps}, self.mark_outcome(obs))
                out.append(obs)
            elif kind == "sub":
                if self.cancelling:
                    # shutdown(cancel_futures=True) has begun: the stdlib's runs the
                    # cancelled futures' callbacks holding the lock submit takes, so a
                    # callback's submit deadlocks there.  Not made, on either side.
                    out.append(["@sub", "RuntimeError"])
                    continue
                ended = []
                try:
                    f = self.ex.submit(self.stamped_task, step[1], ended)
                except RuntimeError:
                    out.append(["@sub", "RuntimeError"])
                else:
                    began = time.monotonic()
                    obs = ["@sub", outcome(f, self.sub_timeout())]
                    self.race(began + WAIT, {None: ended}, self.mark_outcome(obs))
                    out.append(obs)
            elif kind == "gate":  # a gated task waits until the program opens it
                self.started[step[1]].set()
                self.gates[step[1]].wait(self.limit)
            elif kind == "exit":
                if self.impl == "gothreads":
                    self.gothreads.exit_thread()
            else:
                raise AssertionError(f"unknown step {step!r}")
        return out

    def stamped_task(self, body, ended, *hostile):
        """A task: its body, its end stamped in `ended`.  `hostile`: arguments that are
        only there to be dropped (HInt)."""
        return self.steps(body, [], ended)

    def sub_timeout(self):
        """A task waits WAIT for its subtask, except on gothreads with handoff_on_wait
        and no thread ceiling: there an untimed wait is a blocking region, which never
        hangs (the subtask gets a thread), and the stdlib's bounded wait is the program
        without the feature."""
        f = self.features
        if self.impl == "gothreads" and f and f["handoff"] and f["max_threads"] is None:
            return None
        return WAIT

    # -- races of timers ---------------------------------------------------------------

    def race(self, deadline, stamps, mark):
        """Note a bounded wait that has just returned, if it returned after NEAR before
        its deadline (one that returned sooner saw what it waited for come true well
        before the deadline: no race).  `stamps`: {name: the list of stamp() that each
        thing it waited for adds when it comes true}; settle_races calls mark(names)
        with the names of those that came true near the deadline, if any."""
        now = time.monotonic()
        if now > deadline - NEAR:
            self.races.append((deadline, now, threading.get_ident(), stamps, mark))

    @staticmethod
    def mark_outcome(obs):
        """The mark of a wait observed as [tag, outcome]: the outcome becomes "near"."""
        return lambda names: obs.__setitem__(1, "near")

    def settle_races(self):
        """After the program: for each noted wait, the things another thread made come
        true (set the event, ended the task) less than NEAR before or after its deadline
        are races of two timers, not properties of the executor, and its observation
        shows them as such (race(), race_main()).  A task waits WAIT for its subtask
        while the subtask waits WAIT for an event nobody sets (the stdlib showed each
        outcome, 7 and 3 times in 10, on a 2-CPU machine); the main thread waits `limit`
        for a gated task whose gate gives up after `limit` too.  Decided from stamps, so
        the program's timing is unchanged.

        "near" is an outcome like the others: the stdlib's runs must show it too, where
        the race is in the program they do.  So a wait that gothreads lets run late
        into a race (a task left queued while a worker idles, run when a gated task
        gives up its gate) differs from a stdlib that ran it at once.  Never near: a
        thing that came true well before the deadline and was not seen (a lost wakeup),
        or well after it and was seen (a wait that overran), a task that never ran,
        and anything that could only follow the wait: what the waiting thread did
        itself, or a body that began after the wait returned.  The deadlock this
        harness was built for hands a callback's subtask to the callback's own worker,
        which runs it right after the callback's wait; with one worker, a task's
        subtask runs only when that task is done, on its thread or, after
        exit_thread, on a new one."""
        if not self.races:
            return
        time.sleep(max(0.0, max(r[0] for r in self.races) + NEAR - time.monotonic()))
        for deadline, returned, waiter, stamps, mark in self.races:
            near = sorted(name for name, each in stamps.items()
                          if any(abs(at - deadline) < NEAR and who != waiter
                                 and began < returned for at, who, began in each))
            if near:
                mark(near)

    def callback(self, name, cid, body, fut):
        try:
            # A callback sees its future finished, with its outcome (the stdlib runs
            # callbacks after the state is set, and never inline while it runs).
            seen = ["@done", fut.done(), final_state(fut)]
            with self.lock:
                self.cb_order.setdefault(name, []).append(cid)
                out = self.cb_obs[cid] = [seen]
            self.steps(body, out)
        finally:
            with self.lock:
                self.cb_returned += 1

    # -- the program -------------------------------------------------------------------

    def warm(self):
        """Start exactly `workers` workers on both sides: the stdlib starts threads
        lazily and counts idle ones loosely, so without this how many it has -- and
        whether a task waiting on another one can ever see it run -- depends on
        timing.  With every worker started, both are N workers and one FIFO queue."""
        n = self.prog["workers"]
        barrier = threading.Barrier(n)
        fs = [self.ex.submit(barrier.wait, 10) for _ in range(n)]
        self.obs["warm"] = sorted(str(type(f.exception(30))) for f in fs)

    def submit(self, name, body, owner, hostile=None):
        self.ended[name] = []
        if hostile:  # a callable and an argument whose destructors let others run
            f = self.ex.submit(HCall(self.stamped_task, hostile), body, self.ended[name],
                               Witness(self, name, hostile))
        else:
            f = self.ex.submit(self.stamped_task, body, self.ended[name])
        self.futures[name] = f
        owner.append(name)

    def ref(self, owner, r):
        return owner[r % len(owner)] if owner else None

    def do(self, i, op, owner, prefix):
        kind = op[0]
        key = f"{prefix}{i}:{kind}"
        if kind == "submit":
            name = f"{prefix}f{len(owner)}"
            if len(op) > 2 and op[2]:
                self.gates[name] = threading.Event()
                self.started[name] = threading.Event()
                self.submit(name, [["gate", name]] + op[1], owner)
            else:
                self.submit(name, op[1], owner)
        elif kind == "hsubmit":  # ["hsubmit", body, mode]
            self.submit(f"{prefix}f{len(owner)}", op[1], owner, op[2])
        elif kind == "hold_cancel":
            self.hold_cancel(key, op[1], owner, prefix)
        elif kind == "trickle":  # ["trickle", n, gap_ms]: n quick tasks, gap_ms apart
            got = []
            for k in range(op[1]):
                self.do(i, ["submit", [["ret", k]]], owner, prefix)
                got.append(outcome(self.futures[owner[-1]], WAIT))
                time.sleep(op[2] / 1000)
            self.obs[key] = got
        elif kind in ("burst", "pair"):  # ["burst", body, ...]: submits back to back
            if kind == "pair":
                self.drain(owner)  # every worker idle: each submit must wake one
            for body in op[1:]:
                self.do(i, ["submit", body], owner, prefix)
        elif kind == "submit_cb":  # add_done_callback to a task known to be running
            self.do(i, ["submit", op[1], True], owner, prefix)
            # running for sure, if a worker is free for it (WAIT at most: else pending)
            self.started[owner[-1]].wait(WAIT)
            self.do(i, ["cb", -1, op[2]], owner, prefix)
            self.do(i, ["open", -1], owner, prefix)
        elif kind == "open":
            name = self.ref(owner, op[1])
            if name in self.gates:
                self.gates[name].set()
        elif kind == "cb":
            name = self.ref(owner, op[1])
            if name is not None:
                gate = self.gates.get(name)
                if gate is None or gate.is_set():
                    # Whether a callback runs here or on the worker would be the race
                    # of the task with this thread: settled, the task ends first.
                    cf.wait([self.futures[name]], self.limit)
                with self.lock:
                    self.cb_registered += 1
                self.futures[name].add_done_callback(
                    functools.partial(self.callback, name, f"{prefix}cb{i}", op[2]))
        elif kind == "result":
            name = self.ref(owner, op[1])
            if name is not None:
                began = time.monotonic()
                self.obs[key] = [name, outcome(self.futures[name], self.limit)]
                self.race_main(began, [name], self.mark_outcome(self.obs[key]))
        elif kind == "cancel":
            name = self.ref(owner, op[1])
            if name is not None:
                self.obs[key] = [name, self.futures[name].cancel()]
                self.cancels.append((name, self.obs[key][1]))
        elif kind == "set":
            self.events[op[1]].set()
        elif kind == "sleep":
            time.sleep(op[1] / 1000)
        elif kind == "drain":
            self.drain(owner)
        elif kind == "map":
            self.obs.update(self.run_map(key, op[1]))
        elif kind in ("wait_all", "wait_first", "as_completed"):
            names = sorted({self.ref(owner, r) for r in op[1]} - {None})
            fs = {self.futures[n]: n for n in names}
            began = time.monotonic()
            if kind == "as_completed":
                got = []
                try:
                    for f in cf.as_completed(fs, self.limit):
                        got.append([fs[f], final_state(f)])
                    self.obs[key] = sorted(got)  # the order is the workers' race
                except cf.TimeoutError:  # observed, so that a race of it can be settled
                    self.obs[key] = ["timeout", sorted(got)]

                def mark(near, key=key, got=got):  # the rest, and which ones raced
                    self.obs[key] = ["near", sorted(g for g in got if g[0] not in near), near]
            else:
                when = cf.ALL_COMPLETED if kind == "wait_all" else cf.FIRST_COMPLETED
                done, not_done = cf.wait(fs, self.limit, when)
                if kind == "wait_all":
                    split = [sorted(fs[f] for f in done), sorted(fs[f] for f in not_done)]
                    self.obs[key] = split

                    def mark(near, key=key, split=split):  # the rest, and which ones raced
                        self.obs[key] = [[n for n in part if n not in near] for part in split]
                        self.obs[key].append(near)
                else:  # which one came first is a race; that one did, and the split
                    self.obs[key] = [bool(done) or not fs, all(f.done() for f in done),
                                     len(done) + len(not_done) == len(fs)]

                    def mark(near, key=key):
                        self.obs[key] = "near"
            self.race_main(began, names, mark)
        elif kind == "resize":
            if self.impl == "gothreads":
                self.ex.resize(min_workers=min(op[1], self.prog["workers"]))
        elif kind == "thread":
            t = threading.Thread(target=self.thread_body, args=(op[1], f"t{i}."))
            t.start()
            self.threads.append(t)
        else:
            raise AssertionError(f"unknown op {op!r}")

    def hold_cancel(self, key, body, owner, prefix):
        """A cancel that cannot race: every worker is held (after a drain) by a task of
        this op's own, so the new task is queued for sure when cancel() is called: both
        executors must say True and never run it.  Observed at the end: what cancel()
        returned, and whether the task ran."""
        self.drain(owner)
        release = self.hold_all()
        name = f"{prefix}f{len(owner)}"
        self.submit(name, [["ran", name]] + body, owner)
        self.held.append((key, name, self.futures[name].cancel()))
        release.set()
        cf.wait(self.holds, self.limit)

    def map_at_shutdown(self, wait, cancel):
        """map over max_workers + 2 items whose first max_workers hold every worker,
        then shutdown(wait=False, cancel_futures): the two queued items must be
        cancelled with it (the stdlib cancels their futures; gothreads' runners must
        stop claiming), or run when not cancelling."""
        w = self.prog["workers"]
        began, go = threading.Semaphore(0), threading.Event()

        def item(i):
            if i < w:
                began.release()
                go.wait(self.limit)
            return i

        it = self.ex.map(item, range(w + 2))
        for _ in range(w):
            began.acquire(timeout=self.limit)
        self.ex.shutdown(wait=False, cancel_futures=cancel)
        go.set()
        got = []
        try:
            for value in it:
                got.append(value)
            got.append("end")
        except BaseException as exc:
            got.append(type(exc).__name__)
        self.obs["map at shutdown"] = got

    def probe_max_workers(self):
        """After every task ended (regions too), max_workers + 1 tasks meet at a
        barrier: on a pool that runs at most max_workers at once it breaks for all
        (the stdlib's answer); a pool whose count a region left wrong runs them all."""
        b = threading.Barrier(self.prog["workers"] + 1)

        def meet():
            try:
                b.wait(WAIT)
                return "met"
            except threading.BrokenBarrierError:
                return "broken"

        fs = [self.ex.submit(meet) for _ in range(self.prog["workers"] + 1)]
        cf.wait(fs, self.limit)
        return sorted(json.dumps(final_state(f)) for f in fs)

    def hold_all(self):
        """Hold every worker with a task of the harness's own (after a drain, so each
        is free), until the Event returned is set: what is submitted meanwhile is
        queued for sure."""
        n = self.prog["workers"]
        started, release = threading.Semaphore(0), threading.Event()

        def hold():
            started.release()
            release.wait(self.limit)

        self.holds = [self.ex.submit(hold) for _ in range(n)]
        for _ in range(n):
            started.acquire(timeout=self.limit)
        return release

    def thread_body(self, ops, prefix):
        owner = []
        try:
            for i, op in enumerate(ops):
                self.do(i, op, owner, prefix)
        except BaseException as exc:  # recorded: the comparison shows it
            self.obs[prefix + "error"] = type(exc).__name__

    def open_gates(self):
        for gate in list(self.gates.values()):
            gate.set()

    def drain(self, owner=None):
        self.open_gates()
        cf.wait(list(self.futures.values()), self.limit)
        deadline = time.monotonic() + self.limit
        while self.cb_returned < self.cb_registered and time.monotonic() < deadline:
            time.sleep(0.001)

    def race_main(self, began, names, mark):
        """race() for the program's own wait (`limit`) on the futures `names`: mark
        rewrites its observation so that the futures that ended near the deadline are
        shown apart (their part in it was a race of timers) and the rest compared."""
        self.race(began + self.limit, {n: self.ended[n] for n in names}, mark)

    def run_map(self, key, spec):
        """map over range(n): item i < 2*pairs even waits for the event item i+1 sets
        (each pair its own events); item raise_at raises; with timeout "tiny", item 0
        sleeps long past it.  Observes each item yielded and how the iteration ended."""
        n, pairs = spec["n"], spec["pairs"]
        evs = [threading.Event() for _ in range(2 * pairs)]
        tiny = spec["timeout"] == "tiny"
        hostile = spec.get("hostile")  # items, results and fn with slow destructors
        # lockstep: item i > 0 waits until the consumer has item i - 1, so the consumer
        # must be woken the moment an item it waits for is done
        received = [threading.Event() for _ in range(n)] if spec.get("lockstep") else None

        # [items started (one entry each: append is atomic), when one last started or ended]
        activity = [[], time.monotonic()]

        def item(i):
            activity[0].append(i)
            activity[1] = time.monotonic()
            try:
                return item_body(i)
            finally:
                activity[1] = time.monotonic()

        def item_body(i):
            i = int(i)
            if i == spec.get("exit_at") and self.impl == "gothreads":
                self.gothreads.exit_thread()  # its worker leaves after this item
            if received is not None and i > 0 and not received[i - 1].wait(WAIT):
                return ["@lockstep", "timeout"]
            if i == spec["raise_at"]:
                raise_kind(spec.get("raise_kind", "ValueError"), i)
            if tiny and i == 0:
                # Past the map's timeout, but shorter than a pair's bounded wait: a
                # task that holds a slot longer than WAIT makes any pair queued behind
                # it time out, earlier or later depending on when a slot frees, which
                # blocking regions change (FOUND: tiny-map-item-outlasts-a-pair-wait).
                time.sleep(WAIT / 2)
            if spec["sleep"]:
                time.sleep(spec["sleep"] / 1000)
            if i < 2 * pairs:
                if i % 2 == 0:
                    with self.region() if spec.get("block") else contextlib.nullcontext():
                        return ["@wait", "ok" if evs[i + 1].wait(WAIT) else "timeout"]
                evs[i].set()
            return HInt(i * i, hostile) if hostile else i * i

        def inputs():
            """The input: a list, or a generator that may pause or raise (after
            `bad_input` items, ValueError)."""
            for i in range(n):
                if i == spec.get("bad_input"):
                    raise ValueError("input")
                if spec.get("slow_input"):
                    time.sleep(0.001)
                yield HInt(i, hostile) if hostile else i

        kw = {}
        if spec["timeout"] is not None:
            kw["timeout"] = 0.05 if tiny else self.limit
        if spec["buffersize"] is not None and (self.impl == "gothreads" or STDLIB_HAS_BUFFERSIZE):
            kw["buffersize"] = spec["buffersize"]
        obs = {}
        fn = HCall(item, hostile) if hostile else item
        try:
            it = self.ex.map(fn, inputs() if spec.get("generator") else list(inputs()), **kw)
        except BaseException as exc:  # the input raised, before any result
            obs[key + ".end"] = ["raise at call", type(exc).__name__]
            return obs
        del fn
        got = 0
        try:
            for value in it:
                obs[f"{key}[{got}]"] = value
                if received is not None:
                    received[got].set()
                got += 1
                if spec["take"] is not None and got >= spec["take"]:
                    break
            end = ["stop", got]
        except BaseException as exc:
            end = ["raise", type(exc).__name__, got]
        finally:
            it.close()
        obs[key + ".end"] = end
        if spec["sleep"] and pairs == 0 and n - got >= 3:
            # Left early (closed, or an item raised), with items of 1 ms: the stdlib
            # cancels the items not yet started, so they never all run (observed once
            # the map's items have settled, at the program's end).
            self.stopped_maps.append((key, n, activity, spec.get("left_early", False)))
        return obs

    def settle_stopped_maps(self):
        for key, n, activity, shaped in self.stopped_maps:
            deadline = time.monotonic() + self.limit
            while time.monotonic() - activity[1] < 0.05 and time.monotonic() < deadline:
                time.sleep(0.01)
            what = ".left early: items run" if shaped else ".items run after leaving"
            self.obs[key + what] = "all" if len(activity[0]) >= n else "not all"

    def run(self):
        self.threads = []
        self.warm()
        try:
            for i, op in enumerate(self.prog["ops"]):
                self.do(i, op, self.main, "")
        except BaseException as exc:
            self.obs["error"] = type(exc).__name__
        self.open_gates()
        for t in self.threads:
            t.join(self.limit)
            if t.is_alive():
                self.obs["thread-alive"] = True
        wait, cancel, drain = self.prog["shutdown"][:3]
        held = self.prog["shutdown"][3] if len(self.prog["shutdown"]) > 3 else 0
        if drain or held:  # every task and callback done first: nothing races the shutdown
            self.drain(self.main)
        if drain and self.features:
            self.obs["max_workers probe"] = self.probe_max_workers()
        if held == "map":  # a map in flight at shutdown, its first items running
            self.map_at_shutdown(wait, cancel)
            held = 0
        release = self.hold_all() if held else None
        queued = [self.ex.submit(int, k) for k in range(held)]  # queued for sure
        self.cancelling = cancel
        self.ex.shutdown(wait=wait and not held, cancel_futures=cancel)
        self.obs["shutdown"] = "returned"
        if wait and not held:  # it joined every worker: every task and callback is over
            self.obs["done when shutdown returned"] = [
                all(f.done() for f in self.futures.values()),
                self.cb_returned >= self.cb_registered]
        try:
            self.ex.submit(int, 0)
            self.obs["submit after shutdown"] = "accepted"
        except RuntimeError:
            self.obs["submit after shutdown"] = "RuntimeError"
        if held:
            release.set()
            if wait:
                self.ex.shutdown(wait=True)
            cf.wait(queued, self.limit)
            self.obs["queued at shutdown"] = [final_state(f) for f in queued]
        cf.wait(list(self.futures.values()), self.limit)
        deadline = time.monotonic() + self.limit
        while self.cb_returned < self.cb_registered and time.monotonic() < deadline:
            time.sleep(0.001)
        self.settle_races()
        self.settle_stopped_maps()
        for name, f in self.futures.items():
            self.obs[f"state {name}"] = final_state(f)
        for name in self.futures:
            self.obs[f"callbacks {name}"] = self.cb_order.get(name, [])
        # cancel() returned True exactly for the futures that end cancelled
        self.obs["cancels consistent"] = all(
            self.futures[n].cancelled() == ret for n, ret in self.cancels)
        for cid, out in self.cb_obs.items():
            self.obs[f"callback {cid}"] = out
        for name, seen in self.witness.items():
            self.obs[f"witness {name}"] = seen
        for key, name, cancelled in self.held:
            self.obs[key] = [name, cancelled, name in self.ran]
        return json.loads(json.dumps(self.obs))  # canonical: JSON data only


def run_program(prog, impl):
    return Run(prog, impl).run()


def serve(impl):
    """The child: one program per line of stdin, its trace per line of stdout.  Each
    program is announced on stderr first, and a hang dumps every thread's stack."""
    import faulthandler
    if impl == "gothreads":
        import gothreads  # noqa: F401  (imported before the first program is timed)
    for line in sys.stdin:
        prog = json.loads(line)
        print("PROGRAM " + line.strip(), file=sys.stderr, flush=True)
        faulthandler.dump_traceback_later(budget(prog) * 2 + 20, exit=True)
        trace = run_program(prog, impl)
        faulthandler.cancel_dump_traceback_later()
        sys.stdout.write(json.dumps(trace) + "\n")
        sys.stdout.flush()


# ---- children (in the parent) ----------------------------------------------------------

class Hang(Exception):
    pass


class Child:
    """A child interpreter that runs programs on one executor class."""

    def __init__(self, impl):
        self.impl = impl
        self.proc = None

    def start(self):
        # The gothreads this interpreter imports (installed, or on PYTHONPATH): never
        # the source tree, whose extensions may not be built.
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", self.impl],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
            text=True, bufsize=1, cwd=HERE)

    def send(self, prog):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps(prog) + "\n")
        self.proc.stdin.flush()

    def receive(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout
        while True:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
            if ready:
                line = fd.readline()
                if line:
                    return json.loads(line)
                self.proc.wait()
                raise Hang(f"{self.impl} child died (exit status {self.proc.returncode})\n"
                           + self.stderr_tail())
            if left <= 0:
                self.kill()
                raise Hang(f"{self.impl} child did not finish the program in {timeout:.0f} s\n"
                           + self.stderr_tail())

    def stderr_tail(self):
        self.err.seek(0)
        return self.err.read()[-6000:]

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


# The side under test.  GOTHREADS_FUZZ_TARGET=stdlib runs the stdlib against itself: a
# negative control, where any divergence is a false positive of the harness.
TARGET = os.environ.get("GOTHREADS_FUZZ_TARGET", "gothreads")
_children = {}


def child(role):
    if role not in _children:
        _children[role] = Child("stdlib" if role == "stdlib" else TARGET)
    return _children[role]


def run_in_children(prog, roles):
    """Run prog in the child of each role ("stdlib", "gothreads") at once:
    {role: trace or Hang}."""
    limit = budget(prog) * 2 + 30
    for role in roles:
        child(role).send(prog)
    out = {}
    for role in roles:
        try:
            out[role] = child(role).receive(limit)
        except Hang as exc:
            out[role] = exc
    return out


# ---- the comparison ----------------------------------------------------------------------

def _steps_of(ops):
    for op in ops:
        for part in op[1:]:
            if isinstance(part, list):
                yield from _flatten(part)


def _flatten(x):
    if isinstance(x, list):
        if x and isinstance(x[0], str):
            yield x[0]
        for y in x:
            yield from _flatten(y)


def retiring(prog):
    """Features programs whose idle workers retire at once or within 10 ms."""
    feats = prog.get("features")
    return bool(feats) and feats.get("idle_timeout") != 10.0


def fresh_workers(prog):
    """Programs in which gothreads may have to start a worker where the stdlib's pool
    has one idle: workers retire (features' idle_timeout 0 or 10 ms) or leave
    (exit_thread).  Starting a thread lets go of the GIL, so a task submitted then may
    start before the submitter's next step, as in a stdlib pool that starts a thread
    for it: a cancel() right after may lose, and a map's items run before its consumer
    can leave it."""
    if retiring(prog):
        return True
    return "exit" in set(_flatten(prog["ops"])) or any(
        op[0] == "map" and op[1].get("exit_at") is not None for op in prog["ops"])


def lenient(prog):
    """Programs in which the stdlib may or may not run some task: a cancel (it races
    the task's start) of a task with effects, or shutdown(cancel_futures=True) (it races
    the workers) not preceded by a drain.  Then what any task or callback saw of waits
    and submits is not compared, only the futures' final states (each may also be
    cancelled)."""
    if prog["shutdown"][1] and not any(prog["shutdown"][2:]):  # (held: drained first)
        return True
    bodies = _main_bodies(prog)
    for op in prog["ops"]:
        if op[0] == "cancel" and bodies:
            if {"set", "sub", "wait", "pwait", "bsub"} & set(_flatten(bodies[op[1] % len(bodies)])):
                return True
    return False


def _main_bodies(prog):
    """The bodies of the main thread's futures, in submit order (f0, f1, ...): a
    submit_cb makes one as a submit does."""
    bodies = []
    for op in prog["ops"]:
        if op[0] in ("submit", "submit_cb", "hsubmit", "hold_cancel"):
            bodies.append(op[1])
        elif op[0] == "trickle":
            bodies.extend([["ret", k]] for k in range(op[1]))
        elif op[0] in ("burst", "pair"):
            bodies.extend(op[1:])
    return bodies


def _blocking_bodies(x):
    """How many bodies (a task's or callback's list of steps) in x block: wait for an
    event, or submit and wait.  Each holds a worker while it blocks."""
    n = 0
    if isinstance(x, list):
        if x and all(isinstance(s, list) and s and isinstance(s[0], str) for s in x):
            n += any(s[0] in ("wait", "pwait", "sub", "bsub") for s in x)
        for y in x:
            n += _blocking_bodies(y)
    return n


def _gated_submits(ops):
    """How many gated submits ops make (in other threads too): each such task holds a
    worker until its gate opens (["open"], a drain, or the end)."""
    n = 0
    for op in ops:
        if op[0] == "submit" and len(op) > 2 and op[2]:
            n += 1
        elif op[0] == "thread":
            n += _gated_submits(op[1])
    return n


def starvable(prog):
    """More bodies may block at once than there are workers: then whether a bounded
    wait or a submit-and-wait times out depends on which task got a worker first, in
    the stdlib too (a faster executor lands on the other side of that race), so wait
    and submit observations outside maps are not compared.  A gated task blocks its
    worker as well.  A program with no more blocking bodies than workers never starves
    a task that a free worker could run: that is the case defect 1 (a callback's
    submit-and-wait) breaks."""
    return _blocking_bodies(prog["ops"]) + _gated_submits(prog["ops"]) > prog["workers"]


def match(got, want, loose, more=False, strict_loose=False, fresh=False, end_cancels=False):
    """Structural equality, except: a submit from a task or callback may meet the
    program's final shutdown (RuntimeError) whenever that task may still run then; and
    in a lenient program, wait and submit observations are not compared.  A race of
    timers ("near", Run.settle_races) is compared like any other outcome.  With
    ``more`` (a program with features the stdlib lacks), a wait that the stdlib saw
    time out (or race its deadline) may have ended otherwise on gothreads: the feature
    may let it finish.  ``end_cancels``: the program ends with
    shutdown(cancel_futures=True)."""
    if more and want in ("timeout", "near"):
        return True
    if isinstance(got, list) and isinstance(want, list):
        if got and want and got[0] == want[0] and got[0] in ("@wait", "@sub"):
            if loose:
                return True
            if got[0] == "@sub" and "RuntimeError" in (got[1], want[1]):
                return True
        if got and want and got[0] == want[0] == "@pwait" and strict_loose:
            return True
        if (got and want and got[0] == want[0] == "@pwait" and fresh and
                got[1] == "near" and want[1] == "ok"):
            # the pair's tasks may have needed fresh workers (fresh_workers), whose
            # start on a crowded machine can take most of the wait; a lost wakeup
            # still shows as a timeout
            return True
        if (got and want and got[0] == want[0] == "@done" and strict_loose
                and "cancelled" in (got[2], want[2])):
            # a lenient program's cancel races the task's start (allowed_extra allows
            # its state either way): what its callback saw follows the state
            return got[1] == want[1]
        if got and want and got[0] == want[0] == "@bsub":
            # A region with threads to spare (no max_threads): the quick subtask gets a
            # worker, whatever the stdlib (which has no regions) saw; a submit may meet
            # the program's final shutdown.  The subtask may also queue behind work
            # that took the freed slot first (FIFO: a map's runner), and then a final
            # shutdown(cancel_futures=True) cancels it, as it cancels any queued task
            # (FOUND: bsub-queued-behind-a-map-at-shutdown).
            if got[1] == "RuntimeError":
                return True
            if end_cancels and got[1] == "cancelled":
                return True
            if more == "spare":
                return isinstance(got[1], list) and got[1][0] == "ok"
        return len(got) == len(want) and all(
            match(a, b, loose, more, strict_loose, fresh, end_cancels)
            for a, b in zip(got, want))
    return got == want


def finished_more(key, got, want):
    """With features: a wait of the main thread on several futures that saw fewer
    done on the stdlib may see more done on gothreads."""
    if key.endswith(":wait_all") and isinstance(want, list) and want[1:]:
        return set(want[0]) <= set(got[0]) and len(got) == len(want)
    if key.endswith(":as_completed"):
        return want[:1] in (["timeout"], ["near"])
    if key.endswith(":wait_first"):
        return want == "near" or not want[0]
    return False


def allowed_extra(prog, key, values, loose):
    """Outcomes the stdlib allows that its runs may not have shown: a future that a
    cancel may have hit (a cancel races the task's start), or any not yet done at
    shutdown(cancel_futures=True), may end cancelled; cancel() may return either."""
    targets = cancel_targets(prog)
    if key.startswith("state "):
        if loose and "cancelled" in values:
            # The race is both ways: a task the stdlib's runs cancelled could have been
            # taken by a worker first (a faster one, or a fresh one started for it
            # after a worker left through exit_thread) and run; what it would have
            # returned is not known from those runs.
            return ["*"]
        if key.split(" ", 1)[1] in targets and "cancelled" in values and fresh_workers(prog):
            return ["*"]  # the cancel may have lost to a fresh worker (fresh_workers)
        if loose or key.split(" ", 1)[1] in targets:
            return ["cancelled"]
    elif key.endswith(":result"):
        return [[v[0], "cancelled"] for v in values if v[0] in targets]
    elif key.endswith(":cancel"):
        return [[v[0], not v[1]] for v in values]
    elif key.endswith(":as_completed") and targets:
        return ["*"]  # a cancelled future comes out of as_completed too
    return []


def cancel_targets(prog):
    mains = len(_main_bodies(prog))
    return {f"f{op[1] % mains}" for op in prog["ops"] if op[0] == "cancel" and mains}


def compare(prog, stdlib_traces, trace):
    """The keys where `trace` shows what no stdlib trace (nor rule) allows:
    [(key, gothreads' value, the stdlib's values)]."""
    diffs = []
    fresh = fresh_workers(prog)
    end_cancels = bool(prog["shutdown"][1])
    for key in sorted(set(trace) | set().union(*stdlib_traces)):
        # a map's items wait on the map's own events: no cancel of a task touches them
        loose = lenient(prog) and ":map" not in key
        waits_loose = loose or (starvable(prog) and ":map" not in key)
        want = [t[key] for t in stdlib_traces if key in t]
        absent = len(want) < len(stdlib_traces)
        if key.startswith("witness ") and (absent or key not in trace):
            continue  # not dropped yet when the program ended (shutdown(wait=False))
        if key not in trace:
            if not absent:
                diffs.append((key, "<absent>", want))
            continue
        got = trace[key]
        allowed = want + allowed_extra(prog, key, want, loose)
        feats = prog.get("features")
        more = ("spare" if feats and feats.get("max_threads") is None else True) if feats else False
        # A pair's wait cannot starve (every worker was idle when the pair came), so
        # only a racing cancel (lenient) loosens it.
        if "*" in allowed or any(match(got, w, waits_loose, more, loose, fresh, end_cancels)
                                 for w in allowed):
            continue
        if key.startswith("witness ") and (got == "early" or "early" in want):
            continue  # the task ended before submit() returned: nothing was seen
        if key.endswith(".left early: items run") and (got == "not all" or retiring(prog)):
            continue  # (as below; a map of 8 items of 1 ms outlasts a thread's start)
        if key.endswith(".items run after leaving") and (got == "not all" or fresh):
            # Which items had started when the map was left is a race; stopping the
            # rest is what the stdlib does.  Only running them all where the stdlib
            # never does (it cancelled them) is a defect.
            continue
        if more and any(finished_more(key, got, w) for w in want):
            continue
        diffs.append((key, got, want))
    return diffs


# ---- the generators (Hypothesis) -----------------------------------------------------------

def programs(kind="maps"):
    """A Hypothesis strategy for programs of one of KINDS.

    - "futures": submit, callbacks, cancel, waits, as_completed, exit_thread, resize,
      submitting threads, shutdown; no map.
    - "maps": the same with map calls (plain, with timeout, with buffersize; inputs
      that are generators, slow, or raise).
    - "features": both, with what the stdlib has no equivalent for: blocking regions
      (``block``, ``secede``) in tasks and map items, ``handoff_on_wait``,
      ``max_threads``, ``idle_timeout`` 0 or 10 ms (workers retire while claimed), and
      ``adaptive`` (the limit may change only timing; "limit 1" holds it at one
      task at a time, so only the starvation rule runs a task another one waits for).  The stdlib runs the program
      without them (a region is a no-op
      there), and gothreads must finish everything that program finishes, with the
      same results (it may finish more: compare's ``more``).

    Every kind has small pools (1-3 workers, 2 most often: a missed wakeup or a runner
    short shows there), scheduling shapes on purpose (``pair``: a task that waits for
    the next one; ``burst``: submits while the queue holds items; gated tasks), and
    hostile objects: callables, arguments, results and exceptions whose destructors let
    other threads run, tasks that raise from C code or raise KeyboardInterrupt,
    SystemExit or GeneratorExit."""
    from hypothesis import strategies as st

    maps = kind in ("maps", "features")
    features = kind == "features"
    ev = st.integers(0, N_EVENTS - 1)
    modes = st.sampled_from(["sleep", "spin"])

    def bodies(depth, callback=False):
        leaves = [
            st.tuples(st.just("ret"), st.integers(0, 9)),
            st.tuples(st.just("raise"), st.integers(0, 9)),
            st.tuples(st.just("sleep"), st.sampled_from([0, 1, 5, 20])),
            st.tuples(st.just("set"), ev),
            st.tuples(st.just("wait"), ev),
            st.tuples(st.just("hret"), st.integers(0, 9), modes),
        ]
        if not callback:
            leaves.append(st.just(("exit",)))
            leaves.append(st.tuples(st.just("xraise"), st.sampled_from(
                ["C", "KeyboardInterrupt", "SystemExit", "GeneratorExit", "sleep", "spin"])))
        if depth > 0:
            leaves.append(st.tuples(st.just("sub"), bodies(depth - 1)))
            if features and not callback:
                leaves.append(st.tuples(st.just("block"), bodies(depth - 1)))
        if features and not callback:
            leaves.append(st.just(("secede",)))
            leaves.append(st.tuples(st.just("bsub"), st.integers(0, 9)))
        return st.lists(st.one_of(leaves).map(list), min_size=1, max_size=3)

    @st.composite
    def map_spec(draw, workers, plain=False):
        # "batched": long enough that gothreads may pack items into chunks (64 per
        # worker), with the plain call (no timeout, no buffersize) most of the time.
        batched = draw(st.booleans())
        if batched:
            n = draw(st.sampled_from([64 * workers + 2, 200]))
        else:
            n = draw(st.sampled_from([0, 1, 2, 5, 8]))
        pairs = 0
        if workers >= 2 and n >= 2 and not plain:
            pairs = draw(st.sampled_from(sorted({0, 1, 2, n // 2})))
        plain_call = draw(st.booleans())
        timeout = None if plain_call or not n else draw(st.sampled_from([None, "long", "tiny"]))
        take = None
        if pairs == 0 and n:
            take = draw(st.one_of(st.none(), st.integers(1, n)))
        # below 3.14 the stdlib has no buffersize: it runs a plain map, and
        # buffersize >= 2 keeps each pair's second item submitted in time
        buffersize = None if plain_call else draw(st.sampled_from([None, 2, 3, 50]))
        generator = draw(st.booleans())
        return {
            "n": n, "pairs": pairs, "timeout": timeout,
            "raise_at": draw(st.one_of(st.none(), st.integers(0, max(0, n - 1)))),
            "raise_kind": draw(st.sampled_from(
                ["ValueError", "C", "KeyboardInterrupt", "SystemExit", "sleep"])),
            # (a map with timeout or buffersize runs on futures: items of 1 ms show
            # whether leaving it cancels them)
            "sleep": (draw(st.sampled_from([0, 1, 1])) if plain_call else 1) if n <= 8 else 0,
            "buffersize": buffersize,
            "take": take,
            "hostile": draw(st.sampled_from([None, None, "sleep", "spin"])) if n <= 8 else None,
            "generator": generator,
            "slow_input": generator and n <= 8 and draw(st.booleans()),
            # an input that raises is taken whole at the call without buffersize
            "bad_input": (draw(st.one_of(st.none(), st.integers(0, n)))
                          if generator and buffersize is None and not pairs else None),
            "block": features and pairs > 0 and draw(st.booleans()),
            "lockstep": 0 < n <= 8 and pairs == 0 and timeout != "tiny" and draw(st.booleans()),
            "exit_at": draw(st.one_of(st.none(), st.integers(0, max(0, n - 1)))),
        }

    @st.composite
    def left_early(draw):
        """A map the consumer leaves after its first items (it takes 1-3 of 8, or one
        raises): the items not yet started must not all run (the stdlib cancels them).
        Items of 1 ms; on futures (timeout, buffersize 50) or a plain map."""
        n = 8
        timeout = draw(st.sampled_from([None, "long"]))
        raise_at = draw(st.one_of(st.none(), st.integers(0, 2)))
        return {"n": n, "pairs": 0, "timeout": timeout, "raise_at": raise_at,
                "raise_kind": "ValueError", "sleep": 1,
                "buffersize": draw(st.sampled_from([None, 50])),
                "take": None if raise_at is not None else draw(st.integers(1, 3)),
                "hostile": None, "generator": False, "slow_input": False,
                "bad_input": None, "block": False, "lockstep": False, "exit_at": None,
                "left_early": True}

    @st.composite
    def pair(draw):
        """A task that waits for the event the next task sets: both run at once on
        two workers, so the second must get a worker while the first waits."""
        e = draw(ev)
        first = [["pwait", e], ["ret", draw(st.integers(0, 9))]]
        if features and draw(st.booleans()):
            first = [["block", first]]
        return ["pair", first, [["set", e]]]

    @st.composite
    def program(draw):
        workers = draw(st.sampled_from([1, 2, 2, 3]))
        refs = st.one_of(st.just(-1), st.integers(0, 7))  # -1: the latest future
        thread_op = st.one_of(
            st.tuples(st.just("submit"), st.lists(st.one_of(
                st.tuples(st.just("ret"), st.integers(0, 9)),
                st.tuples(st.just("raise"), st.integers(0, 9)),
                st.tuples(st.just("sleep"), st.sampled_from([0, 1, 5])),
                st.just(("exit",)),
                st.tuples(st.just("sub"), st.just([["ret", 7]])),
            ).map(list), min_size=1, max_size=3)),
            st.tuples(st.just("result"), refs),
            *[st.tuples(st.just("map"), map_spec(workers, plain=True))] * maps,
        ).map(list)
        # A task that is still running when callbacks are added to it, and callbacks
        # that submit and wait: how callbacks and the workers' loop interact.
        cb_body = st.one_of(st.tuples(st.just("sub"), bodies(0)).map(lambda t: [list(t)]),
                            bodies(1, callback=True))
        quick = st.lists(st.tuples(st.just("ret"), st.integers(0, 9)).map(list),
                         min_size=1, max_size=1)
        # (Hypothesis draws the earlier branches of one_of more often: the shapes that
        # make a missed wakeup, a runner short or a racing cancel show come first.)
        op = st.one_of(
            pair(),
            st.tuples(st.just("submit"), bodies(2)),
            st.tuples(st.just("hold_cancel"), bodies(0)),
            # a task whose worker leaves (exit_thread) with work queued behind it
            st.tuples(st.just("burst"), st.just([["sleep", 5], ["exit"]]), bodies(0)),
            st.tuples(st.just("submit"), bodies(1), st.just(True)),  # gated
            *[st.tuples(st.just("map"), map_spec(workers))] * maps,
            *[st.tuples(st.just("map"), left_early())] * maps,
            st.tuples(st.just("submit_cb"), bodies(1), cb_body),
            st.lists(quick, min_size=2, max_size=4).map(lambda bs: ["burst", *bs]),
            st.tuples(st.just("cb"), refs, cb_body),
            st.just(("drain",)),
            st.tuples(st.just("cancel"), refs),
            st.tuples(st.just("result"), refs),
            st.tuples(st.just("hsubmit"), bodies(1), modes),
            st.tuples(st.just("open"), refs),
            st.tuples(st.just("set"), ev),
            st.tuples(st.sampled_from(["wait_all", "wait_first", "as_completed"]),
                      st.lists(refs, min_size=1, max_size=4)),
            # submits about an idle_timeout apart (features: 10 ms): each races a
            # worker that is retiring
            *[st.tuples(st.just("trickle"), st.integers(5, 20),
                        st.sampled_from([8, 10, 12]))] * features,
            st.tuples(st.just("resize"), st.integers(0, workers)),
            st.tuples(st.just("thread"), st.lists(thread_op, min_size=1, max_size=4)),
            st.tuples(st.just("sleep"), st.sampled_from([1, 20, 100])),
        ).map(list)
        ops = draw(st.lists(op, min_size=1, max_size=8))
        if workers >= 2 and draw(st.booleans()):  # half the programs: a pair somewhere
            ops.insert(draw(st.integers(0, len(ops))), draw(pair()))
        if maps and not any(o[0] == "map" for o in ops):
            # every maps/features program maps something: drawn among 20 kinds of
            # step, a map was missing from most programs, and map defects lived on
            ops.insert(draw(st.integers(0, len(ops))),
                       ["map", draw(map_spec(workers, plain=True))])
        prog = {
            "workers": workers,
            "ops": ops,
            # [wait, cancel_futures, drain first, tasks queued behind held workers]
            "shutdown": draw(st.tuples(st.booleans(), st.booleans(), st.booleans(),
                                       st.sampled_from([0, 0, 2, "map"])).map(list)),
        }
        if features:
            prog["features"] = {
                "handoff": draw(st.booleans()),
                "max_threads": draw(st.sampled_from([None, workers, workers + 2])),
                # idle workers retire at once or soon: a retire races every claim
                "idle_timeout": draw(st.sampled_from([10.0, 0, 0.01])),
                # the limit changes only timing (issue 23): same outcomes
                "adaptive": draw(st.sampled_from([False, False, True, "limit 1"])),
            }
        return prog

    return program()


class Divergence(AssertionError):
    pass


def check(prog, reruns=5):
    """Run prog on both sides; raise Divergence (with a reproducible report) when
    gothreads shows what the stdlib does not allow.  A mismatch is confirmed before it
    is reported: the stdlib runs `reruns` more times (its set of outcomes grows) and
    gothreads twice more, and all three gothreads runs must be outside that set (a
    timing accident on a busy machine must not fail CI; a defect repeats)."""
    first = run_in_children(prog, ["stdlib", "gothreads"])
    if isinstance(first["gothreads"], Hang):
        raise Divergence(report(prog, "gothreads hung or died", str(first["gothreads"])))
    if isinstance(first["stdlib"], Hang):
        raise Divergence(report(prog, "the STDLIB hung or died: a harness bug",
                                str(first["stdlib"])))
    stdlib = [first["stdlib"]]
    diffs = compare(prog, stdlib, first["gothreads"])
    if not diffs:
        return
    gts = [first["gothreads"]]
    for k in range(reruns):
        impls = ["stdlib", "gothreads"] if k < 2 else ["stdlib"]
        more = run_in_children(prog, impls)
        for impl, trace in more.items():
            if isinstance(trace, Hang):
                raise Divergence(report(prog, f"{impl} hung or died on a rerun", str(trace)))
        stdlib.append(more["stdlib"])
        if "gothreads" in more:
            gts.append(more["gothreads"])
    every = [compare(prog, stdlib, g) for g in gts]
    if all(every):
        lines = [f"  {key}: gothreads {json.dumps(got)}; the stdlib {json.dumps(want)}"
                 for key, got, want in every[-1]]
        raise Divergence(report(prog, f"gothreads differs from {len(stdlib)} stdlib runs "
                                "(in each of its runs)", "\n".join(lines)))


def report(prog, what, detail):
    blob = json.dumps(prog, separators=(",", ":"))
    return (f"{what}\n{detail}\nprogram = {prog!r}\n"
            f"rerun: python tests/differential.py --replay '{blob}'")


KINDS = ("futures", "maps", "features")


def fuzz(argv):
    """``--fuzz N [--seed S] [--kind K ...]``: N generated programs of each kind (no
    fixed cases), the same N for a seed, shrunk to the smallest failing one.  Exits 1
    on a divergence, printing its replay line and how many programs it took (the
    mutation runner reads ``KILLED kind=K programs=P``), else 0."""
    import argparse
    from hypothesis import HealthCheck, Phase, given, seed, settings

    ap = argparse.ArgumentParser(prog="differential.py --fuzz")
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kind", action="append", choices=KINDS)
    ap.add_argument("--no-shrink", action="store_true",
                    help="report the first failing program as it was generated")
    args = ap.parse_args(argv)
    phases = [Phase.generate] if args.no_shrink else [Phase.generate, Phase.shrink]
    probe = subprocess.run([sys.executable, "-c", "import gothreads"], cwd=HERE,
                           capture_output=True, text=True)
    if probe.returncode:  # not a divergence: nothing to test
        print("cannot import gothreads here:\n" + probe.stderr, file=sys.stderr)
        return 2
    status = 0
    try:
        for kind in args.kind or KINDS:
            count, first = [0], []

            @seed(args.seed)
            @settings(max_examples=args.n, deadline=None, database=None, phases=phases,
                      suppress_health_check=list(HealthCheck), print_blob=False)
            @given(programs(kind))
            def one(prog):
                count[0] += 1
                try:
                    check(prog)
                except Divergence:
                    if not first:
                        first.append(count[0])  # shrinking runs more after this one
                    raise

            try:
                one()
            except Exception as exc:  # a Divergence, or Hypothesis's Flaky around one
                if not first:
                    raise
                status = 1
                print(f"KILLED kind={kind} programs={first[0]}")
                print(exc, flush=True)
            else:
                print(f"survived kind={kind} programs={count[0]}", flush=True)
    finally:
        for c in _children.values():
            c.kill()
    return status


def main(argv):
    if argv[:1] == ["--serve"]:
        serve(argv[1])
    elif argv[:1] == ["--run"]:
        print(json.dumps(run_program(json.loads(argv[2]), argv[1]), indent=1))
    elif argv[:1] == ["--fuzz"]:
        return fuzz(argv[1:])
    elif argv[:1] == ["--replay"]:
        prog = json.loads(argv[1])
        try:
            check(prog)
        except Divergence as exc:
            print(exc)
            return 1
        finally:
            for c in _children.values():
                c.kill()
        print("no divergence")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
