# cython: freethreading_compatible=False
"""The thin bridge between the C runtime (csrc/) and Python.

It converts arguments, turns the runtime's negative errno values into exceptions (in
_check, the one place that does it), and provides the body of a python M: attach a
thread state, call the callable, leave nothing behind, detach.  The public face is
gothreads.runtime.
"""
import sys
import threading
from _thread import get_ident

from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF, Py_XDECREF, Py_XINCREF
from libc.stdlib cimport free, malloc
from libc.errno cimport EAGAIN, EFAULT, EINVAL, ENOMEM, ENOSYS, ETIMEDOUT
from libc.string cimport strerror

from gothreads.includes.runtime cimport *

KINDS = ("raw", "pthread", "python")
MAX_CONCURRENCY = 4096

cdef object _DummyThread = threading._DummyThread
cdef dict _active = threading._active


cdef int _check(int rc) except -1:
    """The one place where runtime errors become Python exceptions."""
    if rc >= 0:
        return rc
    err = -rc
    if err == EINVAL:
        raise ValueError("invalid argument to the gothreads runtime")
    if err == ENOMEM:
        raise MemoryError("gothreads: cannot map a thread stack")
    if err == EAGAIN:
        raise RuntimeError("can't start new thread")
    if err == ENOSYS:
        raise NotImplementedError(
            "raw Ms need an assembly exitThread for this OS/arch; this build has none")
    if err == ETIMEDOUT:
        raise TimeoutError("gothreads: exited Ms were not reaped in time")
    if err == EFAULT:
        raise SystemError("gothreads: an M's stack was written by another thread")
    raise OSError(err, strerror(err).decode())


def _raise_for_errno(rc):
    """Test hook: the exception _check raises for runtime return value rc."""
    _check(rc)


# ---- the python M body -------------------------------------------------------------

cdef void _forget_dummy_thread():
    # threading.current_thread() in a thread that threading did not start registers a
    # _DummyThread, which 3.9-3.12 never remove: the dict would grow by one per exited
    # M, and a later M on the same stack (same ident) would inherit a dead object.
    ident = get_ident()
    t = _active.get(ident)
    if t is not None and type(t) is _DummyThread:
        _active.pop(ident, None)


cdef void _run(PyObject *fn, bint owned, PyObject *failed=NULL) noexcept:
    cdef object f = <object>fn
    cdef object on_failure = None
    if owned:
        Py_DECREF(f)  # the reference start_python_m handed over; `f` holds its own
        if failed != NULL:
            on_failure = <object>failed
            Py_DECREF(on_failure)
    try:
        try:
            f()
        except BaseException as exc:
            if on_failure is None:
                raise
            on_failure(exc)  # fn raised out (out of memory for its first frame)
    except BaseException as exc:
        # Like an uncaught exception in a threading.Thread with no excepthook: report,
        # never let it cross into C.
        try:
            sys.unraisablehook(_unraisable(exc, f))
        except BaseException:
            pass
    finally:
        _forget_dummy_thread()


cdef void _python_m_body(void *fn, bint owned) noexcept nogil:
    # `with gil` here is PyGILState_Ensure, which creates this thread's state, and the
    # matching Release deletes it, being the thread's outermost.  During interpreter
    # finalization CPython 3.9-3.13 ends the thread inside Ensure (pthread_exit): the M
    # then stays on allm, which the runtime tolerates; the process is going away.
    with gil:
        _run(<PyObject *>fn, owned)


# Starting a python M: the creator waits until the new thread knows it can attach a
# thread state.  PyGILState_Ensure cannot fail gracefully: out of memory, CPython 3.9,
# 3.10, 3.12 and 3.13 call Py_FatalError and 3.11 dereferences NULL (issue 20: a worker
# started with the address space exhausted killed the process).  So before it, the new
# thread takes and gives back a reserve of what attaching needs (the thread state, the
# first frames); when it cannot, it says so and ends without touching Python, and the
# creator raises MemoryError where the caller can handle it, as the stdlib's
# _thread.start_new_thread does when it cannot allocate the thread state.  The memory
# freed stays with this thread's malloc arena, which Ensure allocates from next; what
# another thread takes in between can still fail Ensure (narrowed, not closed: closing
# it needs CPython's internal _PyThreadState_New/_PyThreadState_Bind, not exported by
# 3.13).  The wait is one handoff per thread created, never per task, and takes no lock
# and no GIL on the new thread's side.

# The reserve: pieces below malloc's mmap threshold (128 KiB), so that they come from
# the arena this thread allocates from and go back to it when freed, where Ensure finds
# them (one piece of 256 KiB was mmap'd and unmapped, which proved only that the address
# space had room: 3.14's Ensure then failed to allocate).
DEF RESERVE_PIECES = 16
DEF RESERVE_PIECE = 32 * 1024

cdef struct _Start:
    gt_note note       # posted by the new thread once it decided
    int failed         # 1: it could not get the reserve and ended
    PyObject *fn       # owned: handed to the M (when not failed)
    PyObject *on_failure  # owned, or NULL: called with fn's exception if fn raises out


cdef void _python_m_started(void *arg) noexcept nogil:
    cdef _Start *st = <_Start *>arg
    cdef PyObject *fn = st.fn
    cdef PyObject *on_failure = st.on_failure
    cdef void *reserve[RESERVE_PIECES]
    cdef int i, got = 0
    for i in range(RESERVE_PIECES):
        reserve[i] = malloc(RESERVE_PIECE)
        if reserve[i] == NULL:
            break
        got += 1
    for i in range(got):
        free(reserve[i])
    if got < RESERVE_PIECES:
        st.failed = 1
        gt_note_wakeup(&st.note)  # the creator owns st and fn from here
        return
    gt_note_wakeup(&st.note)  # after this, st belongs to the creator: not touched again
    with gil:
        _run(fn, True, on_failure)


cdef void _python_m_borrowed(void *fn) noexcept nogil:
    _python_m_body(fn, False)


class _UnraisableArgs:
    __slots__ = ("exc_type", "exc_value", "exc_traceback", "err_msg", "object")

    def __init__(self, exc, obj):
        self.exc_type = type(exc)
        self.exc_value = exc
        self.exc_traceback = exc.__traceback__
        self.err_msg = "Exception in a gothreads M ignored"
        self.object = obj


def _unraisable(exc, obj):
    return _UnraisableArgs(exc, obj)


def _noop():
    pass


# ---- argument checks ----------------------------------------------------------------

cdef size_t _stack_arg(object stack_size) except? 0:
    if stack_size is None:
        return 0
    if isinstance(stack_size, bool) or not isinstance(stack_size, int):
        raise TypeError(
            f"stack_size must be an int or None, not {type(stack_size).__name__}")
    if stack_size == 0:
        return 0
    lo, hi = gt_stack_size_min(), gt_stack_size_max()
    if not lo <= stack_size <= hi:
        raise ValueError(f"stack_size must be between {lo} and {hi} bytes, got {stack_size}")
    return <size_t>stack_size


cdef long _int_arg(object value, str name, long lo, long hi) except? -1:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {value}")
    return <long>value


# ---- the API (documented in gothreads/runtime.py) -------------------------------------

def stats():
    cdef gt_stats st
    with nogil:
        gt_get_stats(&st)
    return {
        "ms_created": st.ms_created,
        "ms_exited": st.ms_exited,
        "ms_reaped": st.ms_reaped,
        "ms_live": st.ms_live,
        "freem_len": st.freem_len,
        "freem_pushbacks": st.freem_pushbacks,
        "stacks_mapped": st.stacks_mapped,
        "stacks_cached": st.stacks_cached,
        "stack_bytes_mapped": st.stack_bytes_mapped,
        "stack_cache_limit": st.stack_cache_limit,
    }


def reap():
    cdef int n
    with nogil:
        n = gt_reap()
    return n


def raw_supported():
    return bool(gt_raw_supported())


def stack_size_limits():
    return (gt_stack_size_min(), gt_stack_size_max())


def round_stack_size(stack_size):
    cdef long r = gt_stack_size(_stack_arg(stack_size))
    if r < 0:
        _check(<int>r)
    return r


def set_stack_cache_limit(n):
    cdef long v = _int_arg(n, "limit", 0, 256)
    with nogil:
        gt_set_stack_cache_limit(<size_t>v)


def churn(count, *, kind="python", concurrency=1, fn=None, stack_size=None):
    cdef long c_count = _int_arg(count, "count", 0, 1 << 40)
    cdef long c_conc = _int_arg(concurrency, "concurrency", 1, MAX_CONCURRENCY)
    cdef size_t c_stack = _stack_arg(stack_size)
    cdef gt_mfn body = NULL
    cdef void *arg = NULL
    cdef gt_mkind c_kind
    cdef double secs = 0
    cdef int rc
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, not {type(kind).__name__}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "raw" and not gt_raw_supported():
        _check(-ENOSYS)
    if fn is not None and kind != "python":
        raise ValueError("fn is only for kind='python': raw and pthread Ms run no Python")
    if fn is not None and not callable(fn):
        raise TypeError("fn must be callable")
    if kind == "python":
        fn = _noop if fn is None else fn
        body = _python_m_borrowed  # `fn` stays referenced by this frame until churn returns
        arg = <void *><PyObject *>fn
        c_kind = GT_M_PTHREAD
    else:
        c_kind = GT_M_RAW if kind == "raw" else GT_M_PTHREAD
    with nogil:
        rc = gt_churn(c_kind, c_count, <int>c_conc, body, arg, c_stack, &secs)
    _check(rc)
    return secs


def start_python_m(fn, stack_size=None, on_failure=None):
    """Start one python M that calls fn() once and exits.  Returns None.  Raises
    MemoryError when the new thread could not get the memory to attach a Python thread
    state (nothing ran).  ``on_failure``, if given, is called on the M with the
    exception if fn() raises out, in place of sys.unraisablehook."""
    if not callable(fn):
        raise TypeError("fn must be callable")
    if on_failure is not None and not callable(on_failure):
        raise TypeError("on_failure must be callable or None")
    cdef size_t c_stack = _stack_arg(stack_size)
    cdef int rc
    cdef _Start *st = <_Start *>malloc(sizeof(_Start))
    if st == NULL:
        raise MemoryError("gothreads: cannot start a thread")
    gt_note_init(&st.note)
    st.failed = 0
    st.fn = <PyObject *>fn
    st.on_failure = NULL if on_failure is None else <PyObject *>on_failure
    Py_INCREF(fn)  # handed to the M, which drops them
    Py_XINCREF(st.on_failure)
    with nogil:
        rc = gt_newm(GT_M_PTHREAD, _python_m_started, st, c_stack)
    if rc >= 0:
        # With the GIL held, as before this wait existed: the new thread answers before
        # it needs the GIL, then waits for it in PyGILState_Ensure as usual, so the
        # caller goes on first (a new worker never runs its task inside submit()).
        gt_note_sleep(&st.note, -1)
    if rc < 0 or st.failed:
        Py_DECREF(fn)
        Py_XDECREF(st.on_failure)
        free(st)
        if rc < 0:
            _check(rc)
        raise MemoryError("gothreads: a new thread could not get the memory to attach a "
                          "Python thread state")
    free(st)


cdef extern from "gil_probe.h" nogil:
    int gt_py_gil_held()
    int gt_py_gil_probe_known()

# The probe is used where this build knows the version's GIL layout, unless
# GOTHREADS_GIL_PROBE=0 (the unknown-version path, forced: tests/test_runtime.py).
# Unknown, the GIL reads as always free: a woken worker asks for it at once, as it
# would with no probe at all.
cdef bint _gil_probe_on = (gt_py_gil_probe_known() and
                           __import__("os").environ.get("GOTHREADS_GIL_PROBE") != "0")


cdef inline int _gil_held() noexcept nogil:
    return _gil_probe_on and gt_py_gil_held()


cdef int _gil_free(void *unused) noexcept nogil:
    return not _gil_held()


def gil_probe_known():
    """Whether the GIL probe reads this version's GIL (False: it answers "free")."""
    return bool(_gil_probe_on)


def gil_probe_check():
    """Test hook: what the GIL probe says with the GIL held by the caller, and just
    after the caller released it (with no other thread wanting it: (1, 0))."""
    cdef int held = _gil_held()
    cdef int released
    with nogil:
        released = _gil_held()
    return held, released


cdef int64_t _timeout_ns(timeout) except? -2:
    """A Note timeout in seconds as the note's nanoseconds: -1 for None or negative."""
    if timeout is not None and timeout >= 0:
        return <int64_t>(timeout * 1e9)
    return -1


cdef class Note:
    """A one-shot wakeup for one sleeping thread (csrc/note.c): ``sleep`` spins a
    bounded, adaptive while with the GIL released, then sleeps in the kernel.  The
    pool uses its C methods (gothreads/_runtime.pxd); the Python ones are for tests."""

    def __cinit__(self):
        gt_note_init(&self.note)

    cdef int wake(self) noexcept:
        # The kernel call is made with the GIL held, on purpose.  Released around it
        # (tried in 04bc733, for a paced load's CPU), the woken worker took the GIL and
        # started its task before submit() returned: on a warm pool, cancel() right
        # after submit() failed 84% of the time against never in the stdlib, and a done
        # callback added right after ran inline on the submitter, where one taking a
        # lock the submitter held deadlocked (tests/test_contract.py).
        return gt_note_wakeup(&self.note)

    cdef int park_ns(self, int64_t timeout_ns) noexcept:
        # Once the GIL is released the completion sequence is posted (waiters spinning
        # in result() look at it); woken while it still spun, the worker spins until
        # the GIL is free before asking for it (csrc/spin.c, gt_note_park).  Woken from
        # the kernel, it asks at once: the GIL spin then missed 42% of the time at 200
        # requests/s (the thread that woke it, and holds the GIL, is often on the same
        # CPU), 9 us of CPU per request.
        cdef int r
        with nogil:
            r = gt_note_park(&self.note, timeout_ns, _gil_free)
        return r

    cdef void reset(self) noexcept:
        gt_note_clear(&self.note)

    def wakeup(self):
        """Wake the sleeper.  True when it was asleep in the kernel; False when it was
        awake (spinning, or not yet asleep), so it runs soon (csrc/spin.c)."""
        return self.wake() == 1

    def clear(self):
        self.reset()

    def sleep(self, timeout=None):
        """Wait for a wakeup: True when woken, False after ``timeout`` seconds
        (None or negative: no timeout)."""
        cdef int64_t ns = _timeout_ns(timeout)
        cdef int r
        with nogil:
            r = gt_note_sleep(&self.note, ns)
        return r == 1

    def park(self, timeout=None):
        """sleep() for a worker that has just published a result (gt_note_park).  True
        when woken, False after ``timeout``."""
        return self.park_ns(_timeout_ns(timeout)) == 1


cdef bint spin_hot(int woke, Py_ssize_t queued, Py_ssize_t busy) noexcept:
    return gt_spin_hot(woke, queued, busy)


cdef int64_t mono_ns() noexcept:
    return gt_mono_ns()


cdef class Adapt:
    """The adaptive-concurrency controller of one pool (csrc/adapt.c): the pool reports
    each task and ticks it from its controller thread; ``limit`` is its answer.  The
    read-only properties are what ``ThreadPoolExecutor.stats()`` shows."""

    def __init__(self, long initial, long ceiling):
        gt_adapt_init(&self.a, initial, ceiling, gt_ncpus(), gt_mono_ns())

    cdef int64_t cpu0(self) noexcept:
        # The CPU clock is a system call (0.2-0.5 us): one task in GT_ADAPT_CPU_EVERY.
        if self.a.tasks % GT_ADAPT_CPU_EVERY:
            return -1
        return gt_thread_cpu_ns()

    cdef void task(self, int64_t start_ns, int64_t cpu0_ns, bint saturated) noexcept:
        cdef int64_t now = gt_mono_ns()
        gt_adapt_task(&self.a, now, now - start_ns,
                      -1 if cpu0_ns < 0 else gt_thread_cpu_ns() - cpu0_ns, saturated)

    cdef long tick(self, Py_ssize_t queued, Py_ssize_t busy) noexcept:
        return gt_adapt_tick(&self.a, gt_mono_ns(), queued, busy)

    cdef void set_ceiling(self, long ceiling) noexcept:
        gt_adapt_set_ceiling(&self.a, ceiling, gt_mono_ns())

    cdef void resume(self) noexcept:
        gt_adapt_resume(&self.a, gt_mono_ns())

    @property
    def limit(self):
        return self.a.limit

    @property
    def reason(self):
        return gt_adapt_reason(self.a.reason).decode()

    @property
    def throughput(self):
        """Tasks per second in the last window measured."""
        return self.a.x

    @property
    def task_cpus(self):
        """The tasks' CPU time per second in that window (cores)."""
        return self.a.cores

    @property
    def changes(self):
        return self.a.changes

    @property
    def tick_seconds(self):
        return GT_ADAPT_TICK_NS / 1e9

    def force(self, long limit):
        """Test hook (gothreads._testing.force_adaptive_limit): the limit is ``limit``
        (within 1..ceiling), held there: no probes until the starvation rule acts."""
        gt_adapt_hold(&self.a, limit, gt_mono_ns())


def result_returned():
    """Called by a future's result()/exception() when its wait is over (a submission
    soon after is a loop: csrc/spin.c, gt_spin_hot)."""
    gt_spin_result_returned()


from concurrent.futures import _base as _futures_base

cdef object _PENDING = _futures_base.PENDING
cdef object _RUNNING = _futures_base.RUNNING


def spin_for_result(fut, timeout=None):
    """Spin, with the GIL released, until ``fut`` is neither pending nor running, within
    the waiters' shared adaptive budget (and ``timeout`` seconds) -- only when its task
    went to a worker that was awake (the caller asks only for a future the pool marked
    hot): one asleep in the kernel takes longer to wake than a spin should last
    (csrc/spin.c).  ``fut._state`` is read as concurrent.futures reads it.  Returns
    None when it is done or no spin was allowed, else a token for :func:`spin_missed`,
    to be passed once the caller's ordinary wait is over: (start, nanoseconds spun)."""
    cdef int64_t budget, left, t0
    cdef uint64_t seen
    cdef int caught = 0
    if timeout is not None and timeout <= 0:
        return None
    budget = left = gt_done_budget()
    if budget <= 0:
        return None
    if timeout is not None and timeout * 1e9 < left:
        left = <int64_t>(timeout * 1e9)
    t0 = gt_mono_ns()
    while True:
        state = fut._state
        if state != _PENDING and state != _RUNNING:
            break
        seen = gt_done_seq()
        with nogil:
            caught = gt_done_spin(seen, &left)
        if not caught:
            return (t0, gt_mono_ns() - t0)
    gt_done_adapt(1, gt_mono_ns() - t0, gt_mono_ns() - t0)
    return None


def spin_missed(token):
    """Tell the spin policy when the result came after a spin that gave up."""
    t0, spun = token
    gt_done_adapt(0, spun, gt_done_posted_after(t0))


def set_thread_name(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    cdef bytes b = name.encode("utf-8", "replace")
    if b"\0" in b:
        raise ValueError("name must not contain NUL")
    gt_set_thread_name(b)

