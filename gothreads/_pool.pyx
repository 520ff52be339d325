# cython: freethreading_compatible=False
"""The executor's compiled half: what runs once per task.  gothreads.executor is the
API and the threading glue; this module holds the state of a pool (its queue, its
workers, their parking) and the completion path of its futures.

Atomic under the GIL -- the one rule of this module.  Nothing here takes a lock.  Every
method that reads pool or future state and then changes it does so in compiled code
that, between the read and the write, runs no Python code, releases no GIL, and
allocates nothing the garbage collector tracks (a collection could run a finalizer, and
with it another thread).  So no other thread, and no finalizer on this one, can come in
between, and a worker that loses the GIL never holds anything another thread waits for:
the lock convoys of a Python-level pool lock (measured: 0.6 context switches per task
when 100k tasks are queued on 4 workers) cannot form.  Where a step needs Python code --
making a worker, running a task, cancelling or completing futures -- it happens before
the read or after the write, and what was decided before it is checked again after.

The module relies on the GIL, so it declares itself not free-threading compatible: on a
free-threaded build, importing it turns the GIL on.

How a pool works:

- ``queue`` holds work items ``(future, fn, args, kwargs)``; ``idle`` is a stack of
  parked workers, the most recently idle on top.  ``put`` appends an item and wakes the
  warmest idle worker, unless enough woken workers are already on their way (each takes
  one item); with no idle worker and fewer than ``max_workers`` it starts a new worker
  with the item as its first.
- A task's done-callbacks are part of the task: the worker runs them while it counts
  as busy and holds no queued item, so a callback that submits work and waits for it
  gets another worker (as in the stdlib).  A future that nobody can watch yet (no
  callbacks, no Condition) is finished in the same atomic section in which its worker
  takes its next item or goes idle, so ``submit`` right after ``result()`` finds the
  worker idle and reuses it.  An idle worker parks on its note (csrc/note.c),
  ``idle_timeout`` at most; one kept by ``min_workers`` then parks until woken.
- Retire vs. submit: a worker whose park timed out exits only if it is still on
  ``idle`` (nobody claimed it) and more than ``min_workers`` are alive.  A submitter
  claims a worker by taking it off ``idle``, so a task is never left behind by a worker
  that retires, and a claimed worker never retires.
- Every accepted task ends: a worker that cannot start leaves the pool, and its task
  goes back to the queue for the other workers or, with none left, fails with the
  stdlib's ``RuntimeError("can't start new thread")``.  A worker that leaves for any
  reason staffs the queued work it leaves behind.
- ``map`` without timeout or buffersize is one MapBatch: a few runner tasks that claim
  its items one at a time from a shared cursor.
- Exited workers' stacks are reaped by the runtime at the next M creation, when a
  worker exits, and at shutdown.

A section wakes a sleeping worker with the GIL held (``Note.wakeup``): no call a user makes
on a warm pool lets another thread run Python code, as in the stdlib.

Checking the rule: every atomic section is bracketed by ``_begin()``/``_end()``.  With
``check_atomic(True)`` (tests/test_contract.py), they count the depth that
``in_atomic()`` reports; a profile hook or a gc callback that runs while it is non-zero
has found Python code (or a collection, or another thread) inside a section.
"""
import collections
import contextvars
import math
import queue
import threading
import time
from concurrent.futures import _base
from concurrent.futures.thread import BrokenThreadPool

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "<limits.h>":
    const long LONG_MAX

from cpython.pythread cimport PyThread_get_thread_ident
from libc.stdint cimport int64_t

from gothreads import _runtime
from gothreads._runtime cimport Adapt, Note, mono_ns, spin_hot

cdef object _PENDING = _base.PENDING
cdef object _RUNNING = _base.RUNNING
cdef object _FINISHED = _base.FINISHED
cdef object _CANCELLED_AND_NOTIFIED = _base.CANCELLED_AND_NOTIFIED
cdef object _CancelledError = _base.CancelledError
cdef object _Condition = threading.Condition
cdef object _LOGGER = _base.LOGGER
cdef object _deque = collections.deque
cdef object _copy_context = contextvars.copy_context
cdef object _reap = _runtime.reap
cdef object _Lock = threading.Lock
cdef object _Full = queue.Full
cdef object _Thread = threading.Thread
cdef object _monotonic = time.monotonic

# Set by the executor's at-exit hook: after it, submit fails, as in the stdlib.
cdef bint _exiting = False


def interpreter_exit():
    """Called once, at interpreter exit: no pool accepts work after this."""
    global _exiting
    _exiting = True


# ---- atomic sections, checked -------------------------------------------------------

cdef bint _atomic_checked = False
cdef Py_ssize_t _atomic_depth = 0


cdef inline void _begin() noexcept:
    """Enter an atomic section: from here to _end(), no Python code, no GIL release,
    no allocation the garbage collector tracks."""
    global _atomic_depth
    if _atomic_checked:
        _atomic_depth += 1


cdef inline void _end() noexcept:
    global _atomic_depth
    if _atomic_checked and _atomic_depth > 0:
        _atomic_depth -= 1


def check_atomic(bint on):
    """Test hook: count the depth of atomic sections (in_atomic), or stop."""
    global _atomic_checked, _atomic_depth
    _atomic_checked = on
    _atomic_depth = 0


def in_atomic():
    """Test hook: the atomic sections open now (0 unless check_atomic(True))."""
    return _atomic_depth


# ---- futures: the completion path -----------------------------------------------------
#
# gothreads._futures._Future creates its Condition only when some thread first locks it,
# to wait or to cancel, and its two lists on first use.  A future nobody locked can have
# no waiters, so a worker completes it by writing its state, then runs its callbacks,
# with no lock: each step below that tests "nobody locked it" and writes the state is
# atomic under the GIL (every attribute written exists from _Future.__init__, so no
# write allocates).  A future that was locked takes the stdlib's path.

cdef class _FinishedLock:
    """The "condition" of a future that is finished (or cancelled and notified): such a
    future never changes state again, so nothing needs excluding; concurrent.futures'
    wait() and as_completed() only lock it to read its state and to add and remove
    their waiter, list operations that are atomic under the GIL.  One shared instance
    serves every finished future, so waiting on 100k done futures makes no locks."""

    def acquire(self, blocking=True, timeout=-1):
        return True

    def release(self):
        pass

    def __enter__(self):
        return True

    def __exit__(self, exc_type, exc, tb):
        return None

    def notify(self, n=1):
        pass

    def notify_all(self):
        pass

    def wait(self, timeout=None):
        return True  # whatever a waiter waits for on a finished future has happened

    def wait_for(self, predicate, timeout=None):
        return predicate()


cdef _FinishedLock _FINISHED_LOCK = _FinishedLock()


cdef class FutureCore:
    """The state of a gothreads future, as C fields: the base, with
    ``concurrent.futures.Future``, of gothreads._futures._Future.  ``_state``,
    ``_result`` and ``_exception`` are the stdlib Future's own (concurrent.futures reads
    them on every future); the ``_gt_`` ones are gothreads': the Condition and the two
    lists, made on first use, and whether the task went to a worker that was awake
    (its waiter may spin: csrc/spin.c).  Every field exists from the start, so that no
    write in an atomic section allocates."""

    cdef public object _state, _result, _exception
    cdef public object _gt_cond, _gt_waiters, _gt_callbacks
    cdef public bint _gt_hot

    def __cinit__(self, *args, **kwargs):
        self._state = _PENDING

    def __init__(self):
        pass  # (not concurrent.futures.Future's, which makes a Condition)


def future_condition(fut):
    """The getter of _Future._condition: made on first use.  A finished future's is the
    shared _FinishedLock."""
    cdef FutureCore f = <FutureCore?>fut
    c = f._gt_cond
    if c is not None:
        return c
    state = f._state
    if state == _FINISHED or state == _CANCELLED_AND_NOTIFIED:
        f._gt_cond = c = _FINISHED_LOCK
        return c
    new = _Condition()  # Python code: other threads may run, and install theirs
    c = f._gt_cond
    if c is None:  # atomic with the test: the first one installed wins
        f._gt_cond = c = new
    return c


def future_list(fut, str slot, factory=None):
    """The getter of _Future's lazy lists (``slot`` holds one, or None): made on first
    use (by ``factory``, if given) and installed as future_condition installs a
    Condition, so two threads that use it first at once (add_done_callback takes no
    lock) get the same list."""
    lst = getattr(fut, slot)
    if lst is not None:
        return lst
    new = [] if factory is None else factory()  # Python code: other threads may run
    lst = getattr(fut, slot)
    if lst is None:  # atomic with the test
        setattr(fut, slot, new)
        lst = new
    return lst


def append_if_unfinished(fut, list callbacks, fn):
    """The lock-free half of _Future.add_done_callback: append ``fn`` to ``callbacks``
    (the future's list, made by the caller beforehand) when the future is not done,
    as one step atomic under the GIL, like the state changes that end a future.  So a
    callback is either in the list before the state changes, and run by whoever
    changed it, or sees the final state and is run by the caller.  True if appended."""
    state = (<FutureCore?>fut)._state
    if state == _PENDING or state == _RUNNING:
        callbacks.append(fn)
        return True
    return False


cpdef bint start_future(FutureCore fut) except -1:
    """``fut.set_running_or_notify_cancel()``."""
    if fut._gt_cond is None and fut._state == _PENDING:
        fut._state = _RUNNING
        return True
    return fut.set_running_or_notify_cancel()


cdef inline bint _unlocked_running(FutureCore fut):
    """Nobody has locked ``fut`` (so nobody waits on it) and it is running: a worker
    may finish it by attribute writes."""
    return fut._gt_cond is None and fut._state == _RUNNING


cdef inline void _finish_unlocked(FutureCore fut, value, bint failed):
    """Finish a future for which _unlocked_running() just held, with no Python code in
    between: three attribute writes, atomic under the GIL with the test.  The value
    slot held None (a running future has none), so no write frees an object."""
    if failed:
        fut._exception = value
    else:
        fut._result = value
    fut._state = _FINISHED


cpdef finish_future(FutureCore fut, value, bint failed):
    """``fut.set_exception(value)`` if failed, else ``fut.set_result(value)``."""
    if _unlocked_running(fut):
        _finish_unlocked(fut, value, failed)
        if fut._gt_callbacks:
            fut._invoke_callbacks()
        return
    if failed:
        fut.set_exception(value)
    else:
        fut.set_result(value)


cdef bint _set_running(FutureCore fut):
    """start_future for the worker loop, which must survive a future that its owner
    completed by hand (set_result on a pending future): logged, and not run."""
    try:
        return start_future(fut)
    except BaseException:
        _LOGGER.critical("Exception starting a task's future", exc_info=True)
        return False


cdef _publish(FutureCore fut, value, bint failed):
    """finish_future for the worker loop (nothing for fut None: a task cancelled before
    it started), which must survive a future that its owner completed by hand while it
    ran (set_result raises InvalidStateError): logged."""
    if fut is None:
        return
    try:
        finish_future(fut, value, failed)
    except BaseException:
        _LOGGER.critical("Exception completing a task's future", exc_info=True)


# ---- the pool -----------------------------------------------------------------------

def submit(executor, fn, /, *args, **kwargs):
    """ThreadPoolExecutor.submit (gothreads.executor), compiled: it runs once per task."""
    return (<Pool?>executor._pool).submit(fn, args, kwargs)


cdef class Slot:
    """One worker's place in its pool, as C fields.  ``thread`` is the worker that
    threading sees (gothreads._worker._Worker); it reaches its pool through this.

    The pool drives a worker through three calls, and nothing else of it: the
    pool's ``worker_type(slot)`` makes one; ``thread.launch(name, stack_size)`` names
    it and starts its thread, which calls ``pool.worker_main(slot)`` (or
    ``pool.drop(slot)`` when it cannot run); ``thread.discard()`` says the pool is done
    with a worker that never ran, and ``thread.lost_in_fork()`` one that a fork left
    behind.  A worker sees its pool only through its slot."""

    cdef readonly Pool pool
    cdef readonly object thread
    cdef readonly Note park        # parked here; a wakeup claims it
    cdef readonly Py_ssize_t index
    cdef readonly long gen
    cdef public bint exit_after    # exit_thread() was called in the current task
    cdef bint idle                 # on pool.idle
    cdef bint waking               # claimed, has not yet taken its next task
    cdef readonly bint busy        # running a task (counted in pool.busy unless seceded)
    cdef readonly bint seceded     # in a blocking region: counted in pool.seceded instead
    cdef unsigned long ident       # its thread's identifier, once it runs
    cdef object first              # the item this worker was started for
    cdef object batch              # the MapBatch whose item it runs, or None


# The default ceiling on a pool's threads (max_threads), when max_workers is lower: room
# for deep nests of tasks waiting in blocking regions, far below what the OS allows.
DEF DEFAULT_MAX_THREADS = 1024

# How often an idle worker of an adaptive pool looks whether it is beyond the limit
# (then it retires): a worker beyond it waits idle this long at most for it to rise.
DEF ADAPT_IDLE_NS = 1000000000


# The kwargs of a map runner's work item: an empty dict, told apart by identity, so that
# stats() counts the map's items, not its runners; the worker calls fn(*args, slot).
cdef dict _RUNNER = {}


cdef inline bint _users(tuple item) noexcept:
    """Is this work item one the user submitted (counted in stats()), not a map's
    runner?"""
    return item[3] is not _RUNNER


cdef _unlink(Slot s):
    """The pool is done with a worker that never ran (made for nothing, or it could not
    start): it breaks its link to the slot, so that both go as soon as nobody holds
    them, and threading forgets it without waiting for a garbage collection.  A worker
    that ran does the same when its thread ends."""
    s.thread.discard()


cdef class Pool:
    """The state of one executor, shared with its workers.  Workers reference the pool,
    never the executor, so that dropping the executor shuts the pool down."""

    cdef readonly object queue       # deque of items
    cdef list idle                   # Slots, the most recently idle last
    cdef dict workers                # index -> Slot, for every live or starting worker
    cdef readonly object max_workers
    cdef readonly Py_ssize_t ceiling # max_workers, rounded up
    cdef readonly Py_ssize_t cap     # at most this many workers: the ceiling, or the
                                     # adaptive controller's limit under it
    cdef readonly Adapt adapt        # the controller (adaptive=True), or None
    cdef object ticker               # the controller's thread, or None
    cdef Note tick_note              # where it waits between ticks
    cdef bint ticker_parked          # it waits until woken: the pool was idle
    cdef readonly Py_ssize_t max_pending  # queued tasks that make submit() wait; -1: none
    cdef object pending_timeout      # how long submit() waits for room (None: no limit)
    cdef object room_waiters         # deque of Locks: submitters waiting for room
    cdef readonly Py_ssize_t max_threads  # at most this many threads, seceded ones included
    cdef readonly bint handoff_on_wait
    cdef readonly Py_ssize_t min_workers
    cdef readonly object idle_timeout  # seconds, or None: never
    cdef int64_t idle_ns             # the same, for the note: -1 never
    cdef readonly object config      # the gothreads._config.PoolConfig it runs with
    cdef object stack_size, initializer, initargs, future_type, worker_type
    cdef readonly object prefix
    cdef readonly bint propagate_context
    cdef public bint join_at_exit
    cdef readonly bint shutdown
    cdef readonly bint cancelling    # shut down with cancel_futures: queued work is cancelled
    cdef readonly object broken      # False, or why the pool is broken
    cdef readonly long gen           # bumped in a fork child: older workers are gone
    cdef readonly Py_ssize_t peak_workers, threads_created, threads_exited
    cdef Py_ssize_t submitted, completed, failed
    cdef Py_ssize_t busy             # workers running a task outside a blocking region
    cdef Py_ssize_t seceded          # workers running a task inside one
    cdef Py_ssize_t waking           # workers woken that have not yet taken work
    cdef object __weakref__

    def __init__(self, config, future_type, worker_type):
        """A pool with ``config`` (a gothreads._config.PoolConfig, checked by whoever made
        it), whose futures are ``future_type()`` (a FutureCore) and whose workers are
        ``worker_type(slot)`` (see Slot)."""
        if not issubclass(future_type, FutureCore):
            raise TypeError("future_type must make FutureCore futures")
        self.queue = _deque()
        self.idle = []
        self.workers = {}
        self._set_limits(config)
        if config.adaptive:
            self.adapt = Adapt(config.adaptive_start, self.ceiling)
            self.cap = self.adapt.limit
            self.tick_note = Note()
        self.max_pending = -1 if config.max_pending is None else config.max_pending
        self.pending_timeout = config.pending_timeout
        self.room_waiters = _deque()
        self.handoff_on_wait = config.handoff_on_wait
        self.idle_timeout = config.idle_timeout
        self.idle_ns = -1 if config.idle_timeout is None else <int64_t>(config.idle_timeout * 1e9)
        self.stack_size = config.stack_size
        self.prefix = config.prefix
        self.initializer = config.initializer
        self.initargs = config.initargs
        self.propagate_context = config.propagate_context
        self.join_at_exit = config.join_at_exit
        self.future_type = future_type
        self.worker_type = worker_type
        self.broken = False

    cdef int _set_limits(self, config) except -1:
        """max_workers, min_workers and max_threads from ``config``, as C fields."""
        max_workers = config.max_workers
        max_threads = config.max_threads
        self.config = config
        self.max_workers = max_workers
        if isinstance(max_workers, int):
            cap = max_workers
        elif max_workers == math.inf:
            cap = PY_SSIZE_T_MAX
        else:
            cap = math.ceil(max_workers)
        self.ceiling = min(cap, PY_SSIZE_T_MAX)
        if self.adapt is not None:
            self.adapt.set_ceiling(min(self.ceiling, <Py_ssize_t>LONG_MAX))
            self.cap = self.adapt.limit
        else:
            self.cap = self.ceiling
        self.min_workers = config.min_workers
        # The configuration checks an explicit ceiling against max_workers; the
        # default one follows max_workers.
        # (a ceiling beyond what a Py_ssize_t holds is no ceiling, as for max_workers)
        self.max_threads = (max(self.ceiling, DEFAULT_MAX_THREADS) if max_threads is None
                            else min(max_threads, PY_SSIZE_T_MAX))
        return 0

    cdef inline Py_ssize_t _surplus(self) noexcept:
        """Workers beyond max_workers (negative: room), seceded ones not counted: they
        exit.  (Beyond an adaptive limit under it, they wait idle: see _park.)"""
        return len(self.workers) - self.seceded - self.ceiling

    cdef inline bint _room(self) noexcept:
        """May another worker start?  Seceded workers do not count against the limit,
        but every thread counts against max_threads."""
        return (len(self.workers) - self.seceded < self.cap and
                len(self.workers) < self.max_threads)

    # -- submission (the caller's thread) -----------------------------------------------

    cdef submit(self, fn, tuple args, dict kwargs):
        f = self.future_type()
        if self.max_pending >= 0:
            self._wait_for_room()
        self.put(self.item(f, fn, args, kwargs))
        return f

    cdef tuple item(self, f, fn, tuple args, dict kwargs):
        if self.propagate_context:
            return (f, _copy_context().run, (fn,) + args, kwargs)
        return (f, fn, args, kwargs)

    cpdef put(self, tuple item):
        """Queue one work item and make sure a worker will take it.  Raises the
        stdlib's errors for a broken or shut-down pool, and for a worker that cannot
        start when no other worker is left to take the item."""
        cdef Slot new = None
        cdef int woke
        if not self.idle and self._room() and not self.shutdown:
            new = self._make()  # Python code: decided again below
        _begin()
        if self.broken or self.shutdown or _exiting:
            _end()
            if new is not None:
                _unlink(new)
            if self.broken:
                raise BrokenThreadPool(self.broken)
            if self.shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")
        if _users(item):
            self.submitted += 1
        if new is not None and not self.idle and self._room():
            # A new worker takes this item as its first, as a stdlib worker does the
            # moment its synchronous start() returns: shutdown(cancel_futures=True)
            # right after submit does not cancel it.
            self._enlist(new)
            new.first = item
            _end()
            self._start(new, True)
            if self.adapt is not None:
                self._kick_ticker()
            return
        self.queue.append(item)
        woke = self._wake_for_queue()
        if spin_hot(woke, len(self.queue), self.busy):
            # A worker that is running will take it (the one just woken was awake, or
            # a busy one takes it next), or a loop goes on: its result() may spin.
            (<FutureCore>item[0])._gt_hot = True
        _end()
        if new is not None:
            _unlink(new)  # made for nothing
        if self.adapt is not None:
            self._kick_ticker()

    # -- a bounded queue (max_pending) ---------------------------------------------------
    #
    # submit() waits while max_pending tasks are queued, in order of arrival: a waiter
    # sleeps on a Lock of its own, which a worker releases when it takes a queued task
    # and there is room (_room_made).  Shutdown and a broken pool release every waiter,
    # and put() then raises as usual.  A task of this pool never waits: were every
    # worker waiting in submit() for room only workers make, the pool would deadlock.
    # Its submissions go over the bound instead, which the tasks that make them bound
    # (Java's CallerRuns would run the task on the caller, nested in the task and its
    # locks; a blocking region would start a thread per waiting task).

    cdef int _wait_for_room(self) except -1:
        cdef bint granted = False
        if len(self.queue) < self.max_pending and not self.room_waiters:
            return 0
        if self._on_worker():
            return 0
        deadline = None
        if self.pending_timeout is not None:
            deadline = _monotonic() + self.pending_timeout
        while True:
            lock = _Lock()
            lock.acquire()
            _begin()
            if self.broken or self.shutdown or _exiting or (
                    len(self.queue) < self.max_pending and (granted or not self.room_waiters)):
                _end()
                return 0  # room, or put() raises the pool's error
            self.room_waiters.append(lock)
            _end()
            if deadline is None:
                granted = lock.acquire()
            else:
                granted = lock.acquire(True, max(0.0, deadline - _monotonic()))
            if granted:
                continue
            _begin()
            waiting = lock in self.room_waiters  # (a Lock compares by identity)
            if waiting:
                self.room_waiters.remove(lock)
            _end()
            if waiting:
                raise _Full(f"max_pending ({self.max_pending}) tasks were queued for "
                            f"pending_timeout ({self.pending_timeout} s)")
            granted = True  # room was made for it as it timed out

    def waiting_submitters(self):
        """How many submit() calls wait for room now."""
        return len(self.room_waiters)

    cdef bint _on_worker(self):
        """Is the calling thread one of this pool's workers?"""
        cdef unsigned long me = PyThread_get_thread_ident()
        cdef Slot s
        for s in self.workers.values():
            if s.ident == me and s.gen == self.gen:
                return True
        return False

    cdef int _room_made(self) except -1:
        """Atomic: a queued task was taken: the first waiting submitter may go on."""
        if self.room_waiters and len(self.queue) < self.max_pending:
            self.room_waiters.popleft().release()
        return 0

    cdef int _release_room_waiters(self) except -1:
        """Atomic: every waiting submitter goes on (to put()'s error: shut down, broken)."""
        while self.room_waiters:
            self.room_waiters.popleft().release()
        return 0

    # -- adaptive concurrency (adaptive=True): csrc/adapt.c decides ----------------------
    #
    # The controller runs on a thread of its own, which ticks it every GT_ADAPT_TICK_NS
    # (50 ms) while the pool has work, waits without a timeout while it has none (put
    # wakes it), and ends with the pool.  A tick may change the limit, ``cap``: under a
    # lower one, workers beyond it finish their task and wait idle, ADAPT_IDLE_NS at most
    # (a probe that did not pay goes back within a few windows, and finds them there:
    # exiting at once cost a thread start per worker and probe, 30% more CPU per task
    # with 256 workers of 50 ms waits); a higher one staffs the queued work.  Its decisions need a timer, not only task
    # completions: when every running task waits for one queued behind the limit,
    # nothing completes, and only the tick's starvation rule keeps the program going.

    cdef int _kick_ticker(self) except -1:
        if self.ticker is None:
            if self.shutdown or _exiting:
                return 0
            t = _Thread(target=self.adapt_loop, args=(self.gen,),
                        name="%s_adapt" % (self.prefix,), daemon=True)
            if self.ticker is not None:  # (Python code above: started meanwhile)
                return 0
            self.ticker = t
            try:
                t.start()
            except BaseException:
                self.ticker = None  # the next submission tries again; the limit holds
            return 0
        if self.ticker_parked:
            self.ticker_parked = False
            self.tick_note.wake()
        return 0

    def adapt_loop(self, long gen):
        """The controller's thread (started by _kick_ticker)."""
        cdef bint idle
        cdef int64_t tick_ns = <int64_t>(self.adapt.tick_seconds * 1e9)
        while True:
            _begin()
            if self.shutdown or _exiting or self.broken or self.gen != gen:
                if self.gen == gen:
                    self.ticker = None
                _end()
                return
            idle = not self.queue and self.busy == 0 and self.waking == 0
            self.ticker_parked = idle
            _end()
            if idle:
                self.tick_note.park_ns(-1)
                self.adapt.resume()  # (a spurious wakeup too: the next window decides)
                continue
            self.tick_note.park_ns(tick_ns)
            try:
                self._adapt_tick()
            except BaseException:
                # (out of memory starting a worker) the tick after this one staffs
                _LOGGER.critical("Exception in the adaptive controller", exc_info=True)

    cdef int _adapt_tick(self) except -1:
        cdef long limit
        cdef bint grew
        _begin()
        limit = self.adapt.tick(len(self.queue), self.busy)
        grew = limit > self.cap
        self.cap = limit
        _end()
        if grew and self.queue:
            self._staff()
        return 0

    def force_limit(self, long limit):
        """Test hook (gothreads._testing.force_adaptive_limit): set the adaptive limit."""
        self.adapt.force(limit)
        _begin()
        self.cap = self.adapt.limit
        self._trim()
        _end()
        self._staff()

    def controller_parked(self):
        """Does the controller's thread wait without a timeout (the pool is idle)?"""
        return self.ticker_parked

    def ticker_thread(self):
        """The controller's thread, or None (shutdown joins it)."""
        return self.ticker

    cpdef requeue(self, tuple item):
        """Queue an item of work the pool accepted earlier (the rest of a map batch
        whose runner's worker leaves), ahead of later work, even after shutdown."""
        _begin()
        if _users(item):
            self.submitted += 1
        self.queue.appendleft(item)
        self._wake_for_queue()
        _end()

    cdef Slot _make(self):
        """A worker not yet in the pool (Python code: not atomic)."""
        cdef Slot s = Slot.__new__(Slot)
        s.pool = self
        s.park = Note()
        s.thread = self.worker_type(s)
        return s

    cdef _enlist(self, Slot s):
        # Atomic (the caller's section): the worker's name, which may run user code
        # (the prefix's __str__), is set by _start.
        cdef Py_ssize_t i = 0
        while i in self.workers:
            i += 1
        s.index = i
        s.gen = self.gen
        self.workers[i] = s
        self.threads_created += 1
        if len(self.workers) > self.peak_workers:
            self.peak_workers = len(self.workers)

    cdef int _claim(self) except -2:
        # The most recently idle: warm caches, and the cold ones age out.
        return self._unpark(self.idle.pop())

    cdef int _unpark(self, Slot s) except -2:
        """Claim and wake an idle worker: 1 if it was asleep in the kernel, 0 if awake."""
        s.idle = False
        s.waking = True
        self.waking += 1
        return s.park.wake()

    cdef int _wake_for_queue(self) except -2:
        """Wake a worker unless enough are already on their way for every queued task
        (each woken worker takes one), or max_workers tasks run: 0 if it woke one that
        was awake, 1 if it woke one from the kernel, -1 if it woke none."""
        if self.idle and self.waking < len(self.queue) and self._may_run():
            return self._claim()
        return -1

    cdef inline bint _may_run(self) noexcept:
        """Is there a free slot for one more task outside blocking regions, counting
        the workers woken for queued work?  Always, unless workers that left a blocking
        region took the slots (then the next worker to finish a task takes the queue)."""
        return self.busy + self.waking < self.cap

    cdef _wake_all(self):
        while self.idle:
            self._claim()

    cdef void _wake_ticker(self) noexcept:
        if self.ticker is not None:
            self.ticker_parked = False
            self.tick_note.wake()

    cdef bint _start(self, Slot s, bint raise_orphan) except -1:
        """Name and start a worker that has joined the pool (not atomic).  False if it
        could not start: it has left the pool, and its first item went back to the
        queue for the other workers or, with none left, ends with the stdlib's error,
        raised to the submitter (raise_orphan) or set on the item's future."""
        try:
            s.thread.launch("%s_%d" % (self.prefix, s.index), self.stack_size)
            return True
        except BaseException as exc:
            orphan = self.drop(s)
            if orphan is None:
                return False
            err = start_error(exc)
        if raise_orphan:
            if _users(orphan):
                self.submitted -= 1  # not accepted after all
            raise err
        fail_item(orphan, err)
        return False

    cpdef drop(self, Slot s):
        """Forget a worker that never ran, and hand the item it was started for to
        another worker.  Returns the item when no other worker is left to take it."""
        _begin()
        item = s.first
        s.first = None
        self._forget(s)
        if item is not None and self.workers:
            self.queue.appendleft(item)
            item = None
            self._wake_for_queue()
        _end()
        _unlink(s)
        return item

    cdef _forget(self, Slot s):
        if s.gen == self.gen and self.workers.get(s.index) is s:
            del self.workers[s.index]
            self.threads_exited += 1
        if s.idle:
            self.idle.remove(s)
            s.idle = False
        self._unbusy(s)  # left by an exception out of a future's own methods

    cdef _staff(self):
        """Queued work gets workers: idle ones woken, new ones started up to
        max_workers, each taking a queued item as its first.  When no worker can be
        started and none is left, the queued items fail (_start)."""
        cdef Py_ssize_t pending
        cdef Slot new
        _begin()
        pending = len(self.queue) - self.waking  # woken workers take one item each
        while pending > 0 and self.idle and self._may_run():
            self._claim()
            pending -= 1
        _end()
        while pending > 0 and self._room():
            new = self._make()  # Python code: decided again below
            _begin()
            if not self.queue or not self._room():
                _end()
                _unlink(new)
                return
            self._enlist(new)
            new.first = self.queue.popleft()
            if self.room_waiters:
                self._room_made()
            _end()
            pending -= 1
            if not self._start(new, False) and self.workers:
                return  # its item is back in the queue, for the workers there are

    # -- the worker (its own thread) ----------------------------------------------------

    def worker_main(self, Slot s):
        s.ident = PyThread_get_thread_ident()
        try:
            if self.initializer is not None:
                try:
                    self.initializer(*self.initargs)
                except BaseException:
                    _LOGGER.critical("Exception in initializer:", exc_info=True)
                    self._initializer_failed(s)
                    return
            self._work(s)
        except BaseException:
            _LOGGER.critical("Exception in worker", exc_info=True)
        finally:
            _begin()
            self._forget(s)
            _end()
            if s.gen == self.gen:
                # Work queued behind a worker that leaves (exit_thread, a resize, an
                # error) is never stranded.
                self._staff()
            _reap()

    cdef _work(self, Slot s):
        # The last task's outcome (fut, value, failed); fut is None when there is
        # nothing to publish: no task yet, or one cancelled before it started.  Its
        # callable and arguments (fn, args, kwargs) are dropped only once it is
        # published, as the stdlib's worker drops its work item after set_result:
        # their destructors are user code, which may look at the future or let
        # another thread run.
        cdef bint failed = False
        cdef bint counted = False  # the task counts in stats() (a map's runner does not)
        cdef Adapt adapt = None    # measuring the task for the controller
        cdef int64_t t0 = 0, c0 = 0
        fut = value = fn = args = kwargs = None
        while True:
            # Atomic: account for the last task, then take the next one or go idle.
            _begin()
            if fut is not None and not (_unlocked_running(fut) and not fut._gt_callbacks):
                # Someone can watch it (callbacks, waiters): its callbacks are part of
                # the task, run while this worker is busy and holds no queued item.
                _end()
                if counted:  # counted first: whoever sees it done sees it counted
                    self._count(failed)
                _publish(fut, value, failed)
                fut = value = None
                _begin()
            if fut is not None:
                # Nobody can watch it: finished in this section, so whoever sees it
                # finished finds this worker idle or working on the next item.
                _finish_unlocked(fut, value, failed)
                if counted:
                    self._count(failed)
                # (fut and value are dropped after the section: freeing the future
                # could run a weakref callback.)
            if s.waking:
                s.waking = False
                self.waking -= 1
            self._unbusy(s)
            if (s.gen != self.gen or s.exit_after or
                    self._surplus() > 0 or
                    (s.first is not None and self.busy >= self.cap)):
                # Forked away, asked to exit (exit_thread), surplus after a resize or
                # once seceded workers came back, or started for work whose slot a
                # returning one took -- maybe before its first task: that goes back to
                # the queue.
                if s.first is not None and s.gen == self.gen:
                    self.queue.appendleft(s.first)
                    s.first = None
                self._forget(s)
                _end()
                return
            if s.first is not None:
                item = s.first
                s.first = None
            elif self.queue and self.busy < self.cap:
                # One task at a time: a task taken is hidden from the other workers,
                # and one that blocks must not hold another hostage (the next one may
                # be what it waits for).
                item = self.queue.popleft()
                if self.room_waiters:
                    self._room_made()
            else:
                if self.shutdown or _exiting:
                    self._forget(s)
                    _end()
                    return
                s.idle = True
                self.idle.append(s)
                _end()
                fut = value = fn = args = kwargs = None
                if not self._park(s):
                    return
                continue
            s.busy = True
            self.busy += 1
            _end()
            fut = value = None
            fut, fn, args, kwargs = <tuple>item  # drops the last task's fn and args
            counted = _users(item)
            item = None
            if _set_running(fut):
                adapt = self.adapt if counted else None  # (a map measures its items)
                if adapt is not None:
                    t0 = mono_ns()
                    c0 = adapt.cpu0()
                try:
                    if kwargs:
                        value = fn(*args, **kwargs)
                    elif counted:
                        value = fn(*args)
                    else:
                        value = fn(*args, s)  # a map's runner: MapBatch.run(s)
                    failed = False
                except BaseException as exc:
                    value = exc
                    failed = True
                if adapt is not None:
                    adapt.task(t0, c0, len(self.queue) > 0)
            else:
                fut = None

    cdef void _unbusy(self, Slot s) noexcept:
        """Atomic: the worker's task is over (or it leaves): it no longer counts as
        running one, seceded or not.  A slot that frees goes to a returning worker."""
        if not s.busy:
            return
        s.busy = False
        if s.gen != self.gen:
            pass  # forked away: the counts were reset
        elif s.seceded:
            self.seceded -= 1
        else:
            self.busy -= 1
        s.seceded = False

    cdef void _trim(self) noexcept:
        """Atomic: wake idle workers beyond max_workers (seceded ones not counted), the
        coldest first, so that they exit; busy ones exit when next idle."""
        cdef Py_ssize_t surplus = self._surplus()
        while surplus > 0 and self.idle:
            self._unpark(self.idle.pop(0))
            surplus -= 1

    # -- blocking regions (Go's handoff): called by the worker itself, in a task --------
    #
    # Leaving a region never waits.  A task that leaves one counts against max_workers
    # again at once, even when that puts the pool over the cap; no queued task starts
    # until the count is back under it (the worker loop and _may_run compare busy
    # with cap).  Waiting for a slot instead would hold the task's worker while the
    # tasks that took the slots may wait for what this task does next: a program that
    # finishes without regions (and on the stdlib) would hang with them.  So the cap
    # bounds how many tasks a pool starts, and is exceeded for a while only by tasks
    # it already started; .NET's thread pool and Java's ForkJoinPool compensate for
    # blocked workers the same way, allowing more threads for a while.

    def secede(self, Slot s):
        """The worker's task blocks: it stops counting against max_workers, and queued
        work gets another worker (woken, or started up to max_threads).  A map item's
        region gives its map one more runner, so the map's other items get the slot."""
        _begin()
        if not s.busy or s.seceded:
            _end()
            raise RuntimeError("this worker is not running a task outside a blocking region")
        s.seceded = True
        if s.gen == self.gen:
            self.busy -= 1
            self.seceded += 1
        _end()
        cdef MapBatch b = s.batch
        try:
            if b is not None and not b.stopped and b.next < b.n:
                b.add_runner(True)
            self._staff()
        except BaseException:
            self.rejoin(s)  # no region begun (out of memory making a worker)
            raise

    def rejoin(self, Slot s):
        """The worker's task goes on, counting against max_workers again at once."""
        _begin()
        if not s.seceded:
            _end()
            raise RuntimeError("this worker is not in a blocking region")
        s.seceded = False
        if s.gen == self.gen:
            self.seceded -= 1
            self.busy += 1
            self._trim()  # a worker started for the seceded one's slot is now surplus
        _end()

    cdef inline void _count(self, bint failed) noexcept:
        if failed:
            self.failed += 1
        else:
            self.completed += 1

    cdef bint _park(self, Slot s) except -1:
        """Wait on the worker's note until claimed.  False when the worker retired
        instead (idle for idle_timeout with more than min_workers alive).  A worker
        that min_workers keeps parks until woken: an idle pool makes no wakeups
        (resize wakes the kept ones when it lowers min_workers).  In an adaptive pool
        a worker also looks, every ADAPT_IDLE_NS, whether it is beyond the limit, and
        then retires (the limit went down while it slept): its idle workers wake once a
        second."""
        cdef int64_t timeout = self.idle_ns  # what is left of idle_timeout (-1: never)
        cdef int64_t step, t0
        cdef bint beyond
        while True:
            step = timeout
            if self.adapt is not None and (step < 0 or step > ADAPT_IDLE_NS):
                step = ADAPT_IDLE_NS
            t0 = mono_ns() if step != timeout else 0
            if s.park.park_ns(step):
                if not s.idle:
                    return True
                # Still idle: nobody claimed this worker (every claim takes it off idle
                # before it posts), so the wakeup was left over from an earlier wait.
                continue
            _begin()
            if not s.idle:
                # Claimed between the timeout and now: the wakeup is done.
                s.park.reset()
                _end()
                return True
            beyond = (self.adapt is not None and
                      len(self.workers) - self.seceded > self.cap)
            if (step == timeout or beyond) and len(self.workers) > self.min_workers:
                self._forget(s)
                _end()
                return False
            _end()
            if step == timeout:
                timeout = -1  # kept by min_workers: until woken
            elif timeout >= 0:
                timeout = max(0, timeout - (mono_ns() - t0))

    cdef _initializer_failed(self, Slot s):
        fresh = _deque()
        _begin()
        self.broken = ("A thread initializer failed, the thread pool "
                       "is not usable anymore")
        items = self.queue
        self.queue = fresh
        first = s.first
        s.first = None
        self._wake_all()
        self._release_room_waiters()
        self._wake_ticker()
        _end()
        # Then the futures, outside.
        if first is not None:
            items.append(first)
        for item in items:
            (<tuple>item)[0].set_exception(BrokenThreadPool(self.broken))

    # -- the executor's other calls -------------------------------------------------------

    def begin_shutdown(self, bint cancel_futures):
        """No more submissions; idle workers wake and exit once the queue is empty.
        With cancel_futures, queued items are cancelled.  Returns the workers."""
        fresh = _deque() if cancel_futures else None
        _begin()
        self.shutdown = True
        items = None
        if cancel_futures:
            self.cancelling = True
            items = self.queue
            self.queue = fresh
        self._wake_all()
        self._release_room_waiters()
        self._wake_ticker()
        _end()
        # Then, outside.
        workers = self.snapshot()
        if items:
            for item in items:
                (<tuple>item)[0].cancel()
        return workers

    def wake_all(self):
        """Wake every idle worker (at interpreter exit).  Returns the workers."""
        _begin()
        self._wake_all()
        self._release_room_waiters()
        self._wake_ticker()
        _end()
        return self.snapshot()

    def resize(self, config):
        """Run with ``config``'s limits from now on (its other fields are not read)."""
        cdef Py_ssize_t old_min = self.min_workers
        if self.shutdown:
            raise RuntimeError("cannot resize an executor after shutdown")
        self._set_limits(config)
        _begin()
        if self.min_workers < old_min:
            # Kept workers park without a timeout: they start their idle time again.
            self._wake_all()
        self._trim()  # surplus idle workers exit now; busy ones when next idle
        _end()
        self._staff()  # growth: queued work gets the new workers

    def counts(self):
        """(workers, idle, busy, pending, submitted, completed, failed, seceded), one
        snapshot."""
        cdef Py_ssize_t starting = 0
        cdef Slot s
        for s in self.workers.values():
            if s.first is not None:
                starting += 1
        return (len(self.workers), len(self.idle), self.busy, len(self.queue) + starting,
                self.submitted, self.completed, self.failed, self.seceded)

    def snapshot(self):
        """The live workers (started or starting), as threads."""
        cdef Slot s
        return [s.thread for s in self.workers.values()]

    def after_fork_child(self):
        """In a fork child: the workers do not exist.  Forget them (never join them);
        queued work stays queued for fresh workers."""
        self.gen += 1
        self.waking = 0
        self.busy = 0
        self.seceded = 0
        self.room_waiters.clear()  # (their threads are in the parent)
        if self.adapt is not None:
            self.ticker = None  # the next submission starts one
            self.ticker_parked = False
            self.tick_note = Note()
        threads = self.snapshot()
        self.workers.clear()
        self.idle.clear()
        for t in threads:
            t.lost_in_fork()


cpdef start_error(exc):
    """The stdlib's error for a worker that could not start, caused by ``exc``."""
    err = RuntimeError("can't start new thread")
    err.__cause__ = exc
    return err


cpdef fail_item(tuple item, err):
    """End an accepted item that no worker can run with ``err``."""
    fut = item[0]
    if _set_running(fut):
        _publish(fut, err, True)


# ---- map ----------------------------------------------------------------------------

cdef class MapBatch:
    """One ``map()`` call without timeout or buffersize.  Its items are claimed one at a
    time, in order, from a shared cursor by the batch's runner tasks (one per worker
    the pool may have), so that while a worker is free no item waits behind another,
    as if each item were its own task; results are kept in order, with no Future per
    item.  The consumer (the map iterator) takes them with result(i).

    Items not yet claimed do not run once the batch is stopped (the iterator was
    closed or raised, as the stdlib cancels the futures left), once the pool cancels
    its queued work, or once no runner is left (their tasks cancelled, or failed
    without running): result() then raises what a queued stdlib item would."""

    cdef Pool pool
    cdef object fn
    cdef list args                   # each item's arguments; None once claimed
    cdef list values                 # each item's result or exception once done
    cdef bytearray state             # per item: 0 not done, 1 returned, 2 raised
    cdef readonly Py_ssize_t n
    cdef Py_ssize_t next             # the next item to claim
    cdef Py_ssize_t runners          # runner tasks queued or running
    cdef Py_ssize_t waiter           # the item the consumer sleeps for, or -1
    cdef object wake                 # a Lock, held except to wake the consumer
    cdef bint stopped
    cdef object error                # what unclaimed items raise once no runner is left

    def __init__(self, Pool pool, fn, list args):
        self.pool = pool
        self.fn = fn
        self.args = args
        self.n = len(args)
        self.values = [None] * self.n
        self.state = bytearray(self.n)
        self.waiter = -1
        self.wake = _Lock()
        self.wake.acquire()

    def start(self):
        """Queue the runners, one per worker the pool may have (the stdlib's errors for a
        broken or shut-down pool come from the first)."""
        cdef Pool pool = self.pool
        cdef Py_ssize_t i
        for i in range(min(self.n, pool.ceiling)):  # (adaptive: the limit may grow)
            try:
                self.add_runner(False)
            except BaseException:
                if i == 0:
                    raise
                break  # the runners already queued take every item
        pool.submitted += self.n  # (Py_ssize_t: no Python code) the user's tasks

    cdef add_runner(self, bint more):
        """Queue one more runner task: one of the first (a submission: raises what put()
        raises), or ``more`` for items the pool accepted already (queued ahead of later
        work, even after shutdown).  Python code: it makes a future."""
        cdef Pool pool = self.pool
        f = pool.future_type()
        item = pool.item(f, self.run, (), _RUNNER)
        self.runners += 1
        try:
            if more:
                pool.requeue(item)
            else:
                pool.put(item)
        except BaseException:
            self.runners -= 1
            raise
        f.add_done_callback(self._runner_done)

    def run(self, Slot s):
        """A runner task, on the worker of slot ``s``: claim and run items until there
        are none left."""
        cdef Pool pool = self.pool
        cdef Py_ssize_t i
        cdef bint failed
        cdef Adapt adapt = pool.adapt
        cdef int64_t t0 = 0, c0 = 0
        fn = self.fn
        s.batch = self  # a region in an item adds a runner (Pool.secede)
        try:
            while True:
                # Atomic: claim the next item.
                if pool.cancelling or pool.broken:
                    self.stopped = True
                if self.stopped or self.next >= self.n:
                    break
                i = self.next
                self.next = i + 1
                args = <tuple>self.args[i]
                self.args[i] = None  # (args holds it: no destructor runs here)
                if adapt is not None:
                    t0 = mono_ns()
                    c0 = adapt.cpu0()
                try:
                    value = fn(*args)
                    failed = False
                except BaseException as exc:
                    value = exc
                    failed = True
                if adapt is not None:
                    adapt.task(t0, c0, self.next < self.n)
                # Atomic: publish the value, then the state that says it is there, and
                # wake the consumer.  Only then drop the arguments and our reference to
                # the value: a destructor is user code, which may let the consumer run.
                self.values[i] = value
                self.state[i] = 2 if failed else 1
                pool._count(failed)
                if self.waiter == i:
                    self._wake_consumer()
                value = args = None
                if s.exit_after and self.next < self.n and not self.stopped:
                    # exit_thread(): this worker leaves after the item; a new runner,
                    # queued ahead of later work, takes the rest.
                    self.add_runner(True)
                    break
        finally:
            s.batch = None

    def _runner_done(self, f):
        # What unclaimed items raise is stored before the count that makes the consumer
        # raise it: cancelled() and exception() are Python calls, at which another
        # thread may run.
        if f.cancelled():
            self.error = _CancelledError()
        elif f.exception() is not None:
            self.error = f.exception()  # failed without running: broken, no thread
        self.runners -= 1
        if self.runners == 0 and self.waiter >= 0:
            self._wake_consumer()

    cdef void _wake_consumer(self):
        self.waiter = -1
        self.wake.release()

    def stop(self):
        """Unclaimed items will not run (the consumer is gone or raised)."""
        self.stopped = True

    def result(self, Py_ssize_t i):
        """Item i's result, or its exception raised; waits for it."""
        cdef unsigned char st
        while self.state[i] == 0:
            if i >= self.next and (self.stopped or self.runners == 0):
                # Never claimed, and never will be.
                if self.error is None:
                    if self.pool.broken:
                        self.error = BrokenThreadPool(self.pool.broken)
                    else:
                        self.error = _CancelledError()
                raise self.error
            self.waiter = i
            self.wake.acquire()  # released by the runner that finishes item i
        self.waiter = -1
        st = self.state[i]
        value = self.values[i]
        self.values[i] = None  # the caller may rely on dropping it
        if st == 2:
            try:
                raise value
            finally:
                value = None
        return value
