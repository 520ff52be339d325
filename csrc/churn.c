/*
 * churn.c -- gt_churn: the microbenchmark of the exit paths, and the stress tests'
 * engine.  It creates Ms, waits for their bodies and reaps them, through the runtime's
 * one hook for it (gt_newm_counted: the reaper counts churn's Ms as it frees them).
 * Nothing in the executor's path calls it.
 */
#include <errno.h>

#include "churn.h"
#include "runtime.h"

static void churn_body(void *p)
{
    gt_churn_ctx *c = p;
    if (gt_stack_probe())
        atomic_fetch_add_explicit(&c->corrupt, 1, memory_order_relaxed);
    if (c->fn)
        c->fn(c->arg);
    atomic_fetch_add_explicit(&c->done, 1, memory_order_release);
}

static void churn_wait(gt_churn_ctx *c, long target)
{
    unsigned spins = 0;
    while (atomic_load_explicit(&c->done, memory_order_acquire) < target) {
        if (++spins < 200)
            gt_cpu_relax();
        else
            gt_os_yield();
    }
}

static double now_seconds(void) { return (double)gt_mono_ns() * 1e-9; }

/* How long churn retries thread creation that keeps failing with EAGAIN. */
#define CHURN_EAGAIN_S 1.0

int gt_churn(gt_mkind kind, long count, int concurrency, gt_mfn fn, void *arg,
             size_t stack_size, double *seconds)
{
    if (count < 0 || concurrency < 1)
        return -EINVAL;
    if (kind == GT_M_RAW && fn != NULL)
        return -EINVAL; /* a raw M cannot run arbitrary code */
    gt_churn_ctx c = { .fn = fn, .arg = arg };
    gt_mfn body = kind == GT_M_RAW ? gt_raw_churn_body : churn_body;
    double t0 = now_seconds();
    long created = 0;
    int rc = 0;
    double eagain_until = 0; /* 0: the last creation succeeded */
    while (created < count) {
        churn_wait(&c, created - concurrency + 1);
        rc = gt_newm_counted(kind, body, &c, stack_size, &c.reaped);
        if (rc == -EAGAIN) {
            /* Out of threads for the moment: let the exiting ones finish.  For a
             * while only: a limit that stays (RLIMIT_NPROC) is reported. */
            if (eagain_until == 0)
                eagain_until = now_seconds() + CHURN_EAGAIN_S;
            if (now_seconds() > eagain_until)
                break;
            gt_os_yield();
            gt_reap();
            rc = 0;
            continue;
        }
        if (rc)
            break;
        eagain_until = 0;
        created++;
    }
    churn_wait(&c, created);
    /* Reap until all of ours are reaped: they may still be in mexit or glibc's exit. */
    double deadline = now_seconds() + 30.0;
    for (;;) {
        gt_reap();
        if (atomic_load_explicit(&c.reaped, memory_order_relaxed) == created)
            break;
        if (now_seconds() > deadline) {
            rc = rc ? rc : -ETIMEDOUT;
            break;
        }
        gt_os_yield();
    }
    if (seconds)
        *seconds = now_seconds() - t0;
    if (rc == 0 && atomic_load(&c.corrupt))
        rc = -EFAULT; /* someone wrote a live M's stack: a reaping bug */
    return rc;
}
