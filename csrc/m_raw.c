/*
 * m_raw.c -- what runs on a raw M (a clone()d thread with no glibc TCB of its own).
 *
 * Rules for every function in this file, and for any body handed to a raw M:
 *   - no libc call, no TLS access, no errno: the thread has no TCB (its TLS pointer
 *     points at mp->rawtls), glibc does not know it exists;
 *   - no stack protector (the canary lives in the TCB) and no sanitizer
 *     instrumentation (ASan/TSan keep per-thread state in TLS): the build compiles
 *     this file with GT_RAW_CFLAGS and never with -fsanitize;
 *   - every signal is blocked for the thread's whole life (gt_os_newosproc_raw), so
 *     no handler can ever push a frame on this stack.
 *   - no call through the PLT, whose first call runs ld.so's resolver: every runtime
 *     symbol is hidden (setup.py), so calls between our files are direct
 *     (tests/test_build.py checks the built extension).
 * Atomics compile to plain instructions (x86 lock-prefixed ops; arm64 built with
 * -mno-outline-atomics so no libgcc helper is called).
 */
#include "churn.h"
#include "runtime.h"

#define RAW __attribute__((noinline))

RAW void gt_raw_churn_body(void *ctx)
{
    gt_churn_ctx *c = ctx;
    if (gt_stack_probe())
        atomic_fetch_add_explicit(&c->corrupt, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->done, 1, memory_order_release);
}

#if defined(GT_HAVE_RAW_M) /* (no arch/sys_*.S, no raw Ms: gt_os_newosproc_raw says so) */
/* The raw M's whole life: run the body, mexit, exitThread.  Mirrors Go's mexit for a
 * runtime-managed stack: the M goes on freem first (it stays on allm too, see the
 * state machine in runtime.h), then exitThread publishes "stack free" as its very last
 * store and ends the thread. */
RAW _Noreturn void gt_raw_mstart(gt_m *mp)
{
    mp->fn(mp->arg);
    atomic_fetch_add_explicit(&gt_sched_g.nmexited, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&gt_sched_g.nrawlive, 1, memory_order_relaxed);
    mp->freelink = NULL;
    gt_freem_push(mp, mp);
    /* Past this call the stack and the record belong to the reaper. */
    gt_exit_thread(&mp->freewait);
}
#endif
