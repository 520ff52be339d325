/*
 * spin.c -- when a waiting thread spins instead of sleeping, and the completion
 * sequence that result() spins on.
 *
 * A handoff between threads that goes through the kernel costs 26-54 us on this kind
 * of machine (DESIGN-NOTES §3): the sleeper's vCPU halts and has to be woken.  A pool
 * round trip -- submit, run, result -- has three such handoffs when everybody sleeps:
 *
 *   1. the worker parked on its note (note.c) is woken by submit;
 *   2. the woken worker asks for the GIL while the submitter still holds it, and
 *      sleeps again in CPython's take_gil until the submitter lets go;
 *   3. the submitter sleeps in result() until the worker publishes.
 *
 * Each becomes a store that a spinning thread sees within a microsecond when
 *
 *   1. a parked worker spins on its note before it sleeps;
 *   2. a woken worker spins until the GIL is free before it asks for it (the bridge
 *      passes a probe of the GIL's state, gothreads/gil_probe.c);
 *   3. result() spins, with the GIL released, until the completion sequence moves: a
 *      worker bumps it (gt_done_post) after it has published and released the GIL, so
 *      the waiter that sees it finds the GIL free as well.
 *
 * Spinning only pays when the thread we wait for can run meanwhile.  The brakes:
 *
 *   - never with one usable CPU (affinity, cpuset);
 *   - never while the machine has more runnable threads than usable CPUs (the
 *     running count of /proc/loadavg, over in two samples in a row): the thread we
 *     wait for may then be waiting for our CPU.  (A fixed spin measured 64 us per
 *     handoff with another process holding a CPU.)  Both are sampled every
 *     GT_LOAD_CHECK_NS at most;
 *   - every budget adapts (gt_spin_adapt): doubled when a spin caught its event,
 *     halved when it ran out.  When the event came well after the spinner gave up and
 *     slept (at least twice its spin), the budget is raised to twice that wait: a cold
 *     start, or a phase in which the other side slept too, learns what the handoff
 *     takes.  An event that came just after the spin ended may have been waiting for
 *     the spinner's CPU, and teaches nothing.
 *
 * GOTHREADS_SPIN=0 in the environment turns spinning off altogether.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gothreads.h"
#include "runtime.h"

#define GT_LOAD_CHECK_NS 5000000 /* how often /proc/loadavg is read */
#define GT_DONE_SPIN_MIN_NS 1000
#define GT_DONE_SPIN_MAX_NS 100000

int64_t gt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The number of runnable threads on the machine (the reader included), or -1. */
static int runnable_threads(void)
{
    char buf[128];
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    /* "0.20 0.48 1.17 3/81 14772": the fourth field's numerator. */
    char *p = buf;
    for (int field = 0; field < 3 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? atoi(p + 1) : -1;
}

static int usable_cpus(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

int gt_spin_allowed(void)
{
    static _Atomic int enabled = -1, cpus = 0, crowded = 0, was_over = 0;
    static _Atomic int64_t next_check;
    if (atomic_load_explicit(&enabled, memory_order_relaxed) < 0) {
        const char *e = getenv("GOTHREADS_SPIN");
        atomic_store_explicit(&enabled, !(e && strcmp(e, "0") == 0), memory_order_relaxed);
    }
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return 0;
    int64_t now = gt_mono_ns(), due = atomic_load_explicit(&next_check, memory_order_relaxed);
    if (now >= due && atomic_compare_exchange_strong_explicit(
                          &next_check, &due, now + GT_LOAD_CHECK_NS, memory_order_relaxed,
                          memory_order_relaxed)) {
        /* Two crowded samples in a row: a passing daemon is not a busy machine. */
        int ncpu = usable_cpus(), over = runnable_threads() > ncpu;
        atomic_store_explicit(&cpus, ncpu, memory_order_relaxed);
        atomic_store_explicit(&crowded, over && atomic_load_explicit(&was_over, memory_order_relaxed),
                              memory_order_relaxed);
        atomic_store_explicit(&was_over, over, memory_order_relaxed);
    }
    return atomic_load_explicit(&cpus, memory_order_relaxed) > 1 &&
           !atomic_load_explicit(&crowded, memory_order_relaxed);
}

int gt_spin_until(int (*done)(void *), void *arg, int64_t budget_ns, int64_t *spent_ns)
{
    int64_t start = gt_mono_ns(), now = start;
    int r = 0;
    for (unsigned i = 0;; i++) {
        if (done(arg)) {
            r = 1;
            break;
        }
        if ((i & 63) == 63 && (now = gt_mono_ns()) - start >= budget_ns)
            break;
        gt_cpu_relax();
    }
    if (spent_ns)
        *spent_ns = (r ? gt_mono_ns() : now) - start;
    return r;
}

int64_t gt_spin_adapt(int64_t budget, int caught, int64_t spun_ns, int64_t waited_ns,
                      int64_t lo, int64_t hi)
{
    if (caught)
        budget *= 2;
    else if (waited_ns < hi && waited_ns >= 2 * spun_ns && budget < 2 * waited_ns)
        budget = 2 * waited_ns; /* it came well after we gave up, but soon */
    else
        budget /= 2;
    return budget < lo ? lo : budget > hi ? hi : budget;
}

/* ---- the completion sequence ------------------------------------------------------ */

static _Atomic uint64_t done_seq;
static _Atomic int64_t done_budget = GT_DONE_SPIN_MAX_NS;

void gt_done_post(void) { atomic_fetch_add_explicit(&done_seq, 1, memory_order_release); }

uint64_t gt_done_seq(void) { return atomic_load_explicit(&done_seq, memory_order_acquire); }

int64_t gt_done_budget(void)
{
    return gt_spin_allowed() ? atomic_load_explicit(&done_budget, memory_order_relaxed) : 0;
}

static int moved(void *seen) { return gt_done_seq() != *(uint64_t *)seen; }

int gt_done_spin(uint64_t seen, int64_t *left_ns)
{
    int64_t spent = 0;
    if (*left_ns <= 0)
        return 0;
    int r = gt_spin_until(moved, &seen, *left_ns, &spent);
    *left_ns -= spent;
    return r;
}

void gt_done_adapt(int caught, int64_t spun_ns, int64_t waited_ns)
{
    int64_t b = atomic_load_explicit(&done_budget, memory_order_relaxed);
    b = gt_spin_adapt(b, caught, spun_ns, waited_ns, GT_DONE_SPIN_MIN_NS, GT_DONE_SPIN_MAX_NS);
    atomic_store_explicit(&done_budget, b, memory_order_relaxed);
}
