# What gothreads._pool cimports from the bridge: a worker's note, parked and woken by a
# C call (no Python method call per wakeup), and the spin policy's answer on which
# futures are hot (csrc/spin.c holds the policy).
from libc.stdint cimport int64_t

from gothreads.includes.runtime cimport gt_note


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
