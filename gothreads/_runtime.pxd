# What gothreads._pool cimports from the bridge: a worker's note, parked and woken by a
# C call (no Python method call per wakeup), the spin policy's answer on which
# futures are hot (csrc/spin.c holds the policy), and the adaptive-concurrency
# controller (csrc/adapt.c holds the policy).
from libc.stdint cimport int64_t

from gothreads.includes.runtime cimport gt_adapt, gt_note


cdef class Note:
    cdef gt_note note
    # GIL held: 1 when the sleeper was asleep in the kernel, 0 when it was awake.
    cdef int wake(self) noexcept
    # GIL held on entry and exit, released inside: a worker's park (gt_note_park).
    # 1 when woken, 0 after timeout_ns (< 0: none).
    cdef int park_ns(self, int64_t timeout_ns) noexcept
    cdef void reset(self) noexcept


# Does a waiter in result() for a task just queued spin?  (gt_spin_hot)
cdef bint spin_hot(int woke, Py_ssize_t queued, Py_ssize_t busy) noexcept


# The monotonic clock (gt_mono_ns), for the controller's task times.
cdef int64_t mono_ns() noexcept


cdef class Adapt:
    """One adaptive pool's controller (gt_adapt), called with the GIL held."""
    cdef gt_adapt a
    # A task starts: its CPU clock, or -1 when this one is not measured.
    cdef int64_t cpu0(self) noexcept
    cdef void task(self, int64_t start_ns, int64_t cpu0_ns, bint saturated) noexcept
    # The limit after a tick at the current time.
    cdef long tick(self, Py_ssize_t queued, Py_ssize_t busy) noexcept
    cdef void set_ceiling(self, long ceiling) noexcept
    # The pool was idle and has work again.
    cdef void resume(self) noexcept
