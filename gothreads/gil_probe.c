/*
 * gil_probe.c -- part of the bridge: is the GIL held right now?  (Best effort.)
 *
 * A worker woken with work spins until the GIL is free before it asks for it (see
 * csrc/spin.c): asking while another thread holds it puts the worker to sleep in
 * CPython's take_gil, and the holder's release then costs a kernel wakeup (26-54 us
 * here).  CPython has no API for this, so this file reads the GIL's `locked` field
 * through CPython's internal headers, of the very version being compiled against.
 * It only reads, and a stale answer costs time, never correctness: the worker takes the
 * GIL through the public API either way.  Where the layout is not known (a version
 * newer than this file, a free-threaded build) it answers "free", which is the
 * behaviour without the probe.
 */
#define Py_BUILD_CORE 1
#include <Python.h>

#include "gil_probe.h"

#if defined(Py_GIL_DISABLED) || PY_VERSION_HEX >= 0x030F0000 || defined(GT_GIL_PROBE_UNKNOWN)
/* Not known (GT_GIL_PROBE_UNKNOWN forces this path: tests/test_runtime.py). */
int gt_py_gil_held(void) { return 0; }
int gt_py_gil_probe_known(void) { return 0; }
#else
int gt_py_gil_probe_known(void) { return 1; }
#if PY_VERSION_HEX >= 0x030C0000
/* 3.12 - 3.14: the interpreter points at its GIL (the runtime's, for the main one). */
#include "internal/pycore_interp.h"
int gt_py_gil_held(void)
{
    struct _gil_runtime_state *gil = PyInterpreterState_Main()->ceval.gil;
    if (gil == NULL)
        return 0; /* finalized */
#if PY_VERSION_HEX >= 0x030D0000
    return _Py_atomic_load_int_relaxed(&gil->locked);
#else
    return _Py_atomic_load_relaxed(&gil->locked);
#endif
}
#else
/* 3.9 - 3.11: one GIL, in the runtime state. */
#include "internal/pycore_runtime.h"
int gt_py_gil_held(void) { return _Py_atomic_load_relaxed(&_PyRuntime.ceval.gil.locked); }
#endif
#endif
