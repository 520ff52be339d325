/*
 * note.c -- Go's note (runtime/lock_futex.go): a one-shot wakeup for one sleeper, here
 * with a bounded, adaptive spin before the futex sleep.
 *
 * A worker that runs out of work sleeps on its note; whoever hands it work wakes the
 * note.  Waking a thread that sleeps in the kernel costs 26-54 us across vCPUs on this
 * kind of machine (DESIGN-NOTES §3), so the sleeper first spins for a while, and a
 * wakeup that lands during the spin costs no system call on either side.
 *
 * The spin adapts per note: it doubles (up to GT_SPIN_MAX_NS) when a spin caught the
 * wakeup and halves when it ran out.  When the machine is busy -- another process holds
 * the other CPU, so the waker cannot run while we spin -- spins keep failing and the
 * budget falls to nothing; a sleep that is woken soon after it began lets it grow again.
 *
 * With one usable CPU (taskset, cgroup) there is no spin at all: measured pinned, a
 * spinning worker made submit().result() 1.25x slower than without.
 *
 * key: 0 clear, 1 woken, 2 a sleeper is in the kernel.  Only the sleeper clears it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "gothreads.h"
#include "runtime.h"

#define GT_SPIN_MAX_NS 20000
#define GT_SPIN_MIN_NS 500

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tp = &ts;
    }
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tp, NULL, 0);
}

void gt_note_init(gt_note *n)
{
    atomic_store(&n->key, 0);
    n->spin_ns = GT_SPIN_MIN_NS * 4;
}

void gt_note_wakeup(gt_note *n)
{
    if (atomic_exchange_explicit(&n->key, 1, memory_order_release) == 2)
        syscall(SYS_futex, &n->key, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

void gt_note_clear(gt_note *n) { atomic_store_explicit(&n->key, 0, memory_order_relaxed); }

static int take(gt_note *n)
{
    atomic_store_explicit(&n->key, 0, memory_order_relaxed);
    return 1;
}

/* Spinning only pays when the waker can run meanwhile: never with one usable CPU.
 * GOTHREADS_SPIN=0 in the environment turns the spin off altogether. */
static int can_spin(void)
{
    static _Atomic int cached = -1, enabled = -1;
    static _Atomic unsigned calls;
    if (atomic_load_explicit(&enabled, memory_order_relaxed) < 0) {
        const char *e = getenv("GOTHREADS_SPIN");
        atomic_store_explicit(&enabled, !(e && strcmp(e, "0") == 0), memory_order_relaxed);
    }
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return 0;
    if ((atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed) & 255) == 0 ||
        atomic_load_explicit(&cached, memory_order_relaxed) < 0) {
        cpu_set_t set;
        int ok = sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 1;
        atomic_store_explicit(&cached, ok, memory_order_relaxed);
    }
    return atomic_load_explicit(&cached, memory_order_relaxed);
}

int gt_note_sleep(gt_note *n, int64_t timeout_ns)
{
    int64_t start = mono_ns();
    int64_t budget = can_spin() ? n->spin_ns : 0;
    if (timeout_ns >= 0 && budget > timeout_ns)
        budget = timeout_ns;
    /* Spin: reading the key is all the waker's side needs from us. */
    for (unsigned i = 0;; i++) {
        if (atomic_load_explicit(&n->key, memory_order_acquire) == 1) {
            n->spin_ns = n->spin_ns * 2 > GT_SPIN_MAX_NS ? GT_SPIN_MAX_NS : n->spin_ns * 2;
            return take(n);
        }
        if ((i & 63) == 63 && mono_ns() - start >= budget)
            break;
        gt_cpu_relax();
    }
    n->spin_ns = n->spin_ns / 2 < GT_SPIN_MIN_NS ? 0 : n->spin_ns / 2;
    uint32_t expect = 0;
    if (!atomic_compare_exchange_strong_explicit(&n->key, &expect, 2, memory_order_acquire,
                                                 memory_order_acquire))
        return take(n); /* woken between the spin and here */
    for (;;) {
        int64_t left = -1;
        if (timeout_ns >= 0) {
            left = timeout_ns - (mono_ns() - start);
            if (left <= 0) {
                expect = 2;
                if (atomic_compare_exchange_strong_explicit(&n->key, &expect, 0,
                                                            memory_order_acquire,
                                                            memory_order_acquire))
                    return 0; /* timed out */
                return take(n);
            }
        }
        futex_wait(&n->key, 2, left);
        if (atomic_load_explicit(&n->key, memory_order_acquire) == 1) {
            /* A wakeup soon after we gave up spinning: spinning would have paid. */
            if (mono_ns() - start < 4 * GT_SPIN_MAX_NS && n->spin_ns < GT_SPIN_MIN_NS)
                n->spin_ns = GT_SPIN_MIN_NS;
            return take(n);
        }
    }
}
