/*
 * spin.c -- when a waiting thread spins instead of sleeping, and the completion
 * sequence that result() spins on.
 *
 * A handoff between threads that goes through the kernel costs 26-54 us on this kind
 * of machine (a futex wake round trip across vCPUs, measured on the first development
 * VM; 3.4 us on one vCPU): the sleeper's vCPU halts and has to be woken.  A pool
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
 *   2. a worker woken while it spun spins until the GIL is free before it asks for it
 *      (the bridge passes a probe of the GIL's state, gothreads/gil_probe.c);
 *   3. result() spins, with the GIL released, until the completion sequence moves: a
 *      worker bumps it (gt_done_post) after it has published and released the GIL, so
 *      the waiter that sees it finds the GIL free as well.
 *
 * Spinning only pays when the thread we wait for is running meanwhile: a spin that
 * waits for a thread asleep in the kernel burns the CPU for the 26-54 us its wakeup
 * takes, and gains little (measured: paced requests cost 1.4-2x the stdlib's CPU with
 * every wait spinning).  So, as in Go's scheduler, a spin is decided by what the
 * other side is doing, with no system call in the decision:
 *
 *   - a woken worker is known to be running when its note's wakeup found it awake
 *     (gt_note_wakeup returns 0): only then does the submitter's result() spin (the
 *     bridge marks the future "hot"); a worker woken from the kernel, a new worker and
 *     a queued task make it sleep at once;
 *   - a worker woken from the kernel does not spin for the GIL either: the thread
 *     that woke it, and holds the GIL, is often on the CPU it woke on, so that spin
 *     missed 42% of the time at 200 requests/s (the note says how it woke: slept);
 *   - at most half the usable CPUs' worth of threads spin in result() at once (at
 *     least one), so spinners never crowd out the workers they wait for;
 *   - never with one usable CPU (affinity, cpuset: sampled once a second);
 *   - never on a crowded machine: a spinner that finds it lost its CPU in the middle
 *     of a spin (two of its clock reads, normally a few hundred nanoseconds apart,
 *     more than GT_PREEMPTED_NS apart) to another thread (its count of involuntary
 *     context switches went up) turns spinning off for GT_CROWDED_NS, for every
 *     thread: the thread it waits for may be waiting for that CPU.  This replaces a
 *     brake that read /proc/loadavg (three system calls per decision).  A gap with no
 *     such switch was the hypervisor's (it descheduled the vCPU) or an interrupt's,
 *     and says nothing about our threads: on this VM, idle otherwise, a 25000-round
 *     tight loop met 5-15 gaps of 38-900 us, each of which turned spinning off for
 *     50 ms, and ran at 11-28 us a round instead of 2.5;
 *   - nor when a thread is preempted between its spins: a spin is too short to be
 *     preempted in, but on a crowded machine the thread it waits for is, and so is the
 *     spinner between its spins.  When a spin runs out, the spinner looks at its
 *     involuntary context switches (at most once a millisecond, GT_PREEMPTION_RATE_NS);
 *     preempted once per GT_OFTEN_PREEMPTED_NS or more often since it last looked, it
 *     turns spinning off as above.  Measured with a CPU hog beside a submit/result loop:
 *     32-64 such switches per millisecond at 40% of these looks, at most 16-32 in
 *     every other scenario of the main job (paced 10000/s, 8 clients).  That loop's
 *     CPU and wall time against the stdlib's: 1.12 (0.99-1.51 over 5 interleaved
 *     rounds) before this rule, 0.91 (0.90-1.00, 7 rounds) with it, 0.96 with spinning
 *     off: a spinner that keeps its CPU while its partner waits for one loses;
 *   - every budget adapts (gt_spin_adapt): doubled when a spin caught its event,
 *     halved when it ran out.  When the event came well after the spinner gave up and
 *     slept (at least twice its spin), but soon (under the cap), and the wait before
 *     came soon too, the budget is raised to twice that wait: a cold start, or a phase
 *     in which the other side slept too, learns what the handoff takes.  One soon wait
 *     alone is not enough: at a paced load, a request that ran late makes the next
 *     submission come right after a result, and raising on it re-armed the full
 *     budget, which the paced waits after it burnt in halvings (35 + 17 + 9 + ... us
 *     for one late request; 5.7 us of spinning per request at 10000/s, 24% of the
 *     note's spins catching).  An event that came just after the spin ended may have
 *     been waiting for the spinner's CPU, and teaches nothing.  On a crowded machine
 *     the other side is often preempted, spins run out, and the budgets fall to their
 *     floor.
 *   - "when the event came" is the time its poster stamped (the note's wakeup, the
 *     completion post), not when the sleeper woke: the kernel's wakeup latency
 *     (26-54 us) would otherwise make every slept wait look long, and a tight loop
 *     that once fell to the floor would never learn that its events come within a
 *     few microseconds.
 *   - the budgets are capped near the CPU cost of sleeping instead (25 us for
 *     result(), 35 us for a worker's note): a spin that runs out costs its whole
 *     budget of CPU, and a sleep and wakeup cost about that much, so a longer cap only
 *     buys latency with CPU.  The note's is longer because an asyncio loop's next
 *     submission comes through the loop's own wakeup.  Measured (7-9 interleaved
 *     rounds, gothreads/stdlib; were 50 and 100 us): CPU per request for paced
 *     10000/s of 50 us tasks 1.02 against 1.21, the tight submit/result loop 0.11
 *     against 0.14; run_in_executor's time 0.49 (0.85 with the note at 20 us).
 *
 * The pool asks two questions, answered here (gothreads/_pool.pyx only passes what it
 * knows): which futures are hot (gt_spin_hot: the worker that takes the task was woken
 * while it spun, or a running worker takes it next, or the submission comes within
 * GT_LOOP_NS of a result() coming back -- a submit/result loop, whose worker may have
 * gone to sleep while the loop's thread slept, but the next handoff finds it awake);
 * and how a worker parks (gt_note_park: post the completion sequence, sleep on the
 * note, and, woken while it spun, wait up to GT_GIL_SPIN_NS for a free GIL).
 *
 * The numbers, in one place: a result() spins up to 25 us (GT_DONE_SPIN_MAX_NS), a
 * parked worker up to 35 us (note.c's GT_SPIN_MAX_NS), a woken worker up to 20 us for
 * the GIL (GT_GIL_SPIN_NS); the budgets adapt within 1 us (GT_DONE_SPIN_MIN_NS, and
 * note.c's floor) and those caps.
 *
 * GOTHREADS_SPIN=0 in the environment turns spinning off altogether.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gothreads.h"
#include "runtime.h"

#define GT_CPUS_CHECK_NS 1000000000 /* how often the usable CPUs are counted */
#define GT_PREEMPTED_NS 30000        /* a gap in a spin that means we lost the CPU */
#define GT_CROWDED_NS 50000000       /* how long spinning stays off after that */
#define GT_OFTEN_PREEMPTED_NS 31250  /* preempted once per this long, or more: crowded */
#define GT_PREEMPTION_RATE_NS 1000000 /* the shortest time that rate is taken over */
#define GT_DONE_SPIN_MIN_NS 1000
#define GT_DONE_SPIN_MAX_NS 25000
#define GT_GIL_SPIN_NS 20000         /* a worker woken while it spun waits for the GIL */
#define GT_LOOP_NS 20000             /* a submission this soon after a result: a loop */

int64_t gt_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static _Atomic int ncpus = 0;
static _Atomic int64_t crowded_until; /* no spinning before this time */
/* This thread's count of involuntary context switches, and when it last looked. */
static GT_THREAD_LOCAL long preemptions_seen = -1;
static GT_THREAD_LOCAL int64_t preemptions_seen_ns;

static long look_at_preemptions(int64_t now, long *seen, int64_t *seen_ns)
{
    long n = gt_os_thread_preemptions();
    *seen = preemptions_seen;
    *seen_ns = preemptions_seen_ns;
    preemptions_seen = n;
    preemptions_seen_ns = now;
    return n;
}

/* Whether the calling thread lost its CPU to another thread since it last looked (true
 * when the OS cannot say).  A system call: only for a gap in a spin. */
static int preempted_by_a_thread(int64_t now)
{
    long seen;
    int64_t seen_ns;
    long n = look_at_preemptions(now, &seen, &seen_ns);
    return n < 0 || seen < 0 || n > seen;
}

int gt_spin_preempted_often(long preemptions, int64_t elapsed_ns)
{
    return elapsed_ns > 0 && preemptions > 0 &&
           preemptions * GT_OFTEN_PREEMPTED_NS >= elapsed_ns;
}

/* A spin ran out: whether this thread has lost its CPU to other threads so often since
 * it last looked that the machine must be crowded.  A system call, at most once per
 * GT_PREEMPTION_RATE_NS per thread, and only after a spin that found nothing. */
static int preempted_often(int64_t now)
{
    if (preemptions_seen >= 0 && now - preemptions_seen_ns < GT_PREEMPTION_RATE_NS)
        return 0;
    long seen;
    int64_t seen_ns;
    long n = look_at_preemptions(now, &seen, &seen_ns);
    return n >= 0 && seen >= 0 && gt_spin_preempted_often(n - seen, now - seen_ns);
}

int gt_spin_allowed(void)
{
    static _Atomic int enabled = -1;
    static _Atomic int64_t next_check;
    if (atomic_load_explicit(&enabled, memory_order_relaxed) < 0) {
        const char *e = getenv("GOTHREADS_SPIN");
        atomic_store_explicit(&enabled, !(e && strcmp(e, "0") == 0), memory_order_relaxed);
    }
    if (!atomic_load_explicit(&enabled, memory_order_relaxed))
        return 0;
    int64_t now = gt_mono_ns(), due = atomic_load_explicit(&next_check, memory_order_relaxed);
    if (now >= due && atomic_compare_exchange_strong_explicit(
                          &next_check, &due, now + GT_CPUS_CHECK_NS, memory_order_relaxed,
                          memory_order_relaxed))
        atomic_store_explicit(&ncpus, gt_os_ncpus(), memory_order_relaxed);
    return atomic_load_explicit(&ncpus, memory_order_relaxed) > 1 &&
           now >= atomic_load_explicit(&crowded_until, memory_order_relaxed);
}

int gt_spin_until(int (*done)(void *), void *arg, int64_t budget_ns, int64_t *spent_ns)
{
    int64_t start = gt_mono_ns(), now = start, prev = start;
    int r = 0;
    if (preemptions_seen < 0) {
        preemptions_seen = gt_os_thread_preemptions();
        preemptions_seen_ns = start;
    }
    for (unsigned i = 0;; i++) {
        if (done(arg)) {
            r = 1;
            break;
        }
        if ((i & 7) == 7) { /* a clock read every 8 pauses (~0.2 us): a budget ends on time */
            now = gt_mono_ns();
            if (now - prev > GT_PREEMPTED_NS && preempted_by_a_thread(now)) {
                /* Another thread took our CPU mid-spin: the machine is crowded. */
                atomic_store_explicit(&crowded_until, now + GT_CROWDED_NS, memory_order_relaxed);
                break;
            }
            if (now - start >= budget_ns) {
                if (preempted_often(now)) /* ... or between spins */
                    atomic_store_explicit(&crowded_until, now + GT_CROWDED_NS,
                                          memory_order_relaxed);
                break;
            }
            prev = now;
        }
        gt_cpu_relax();
    }
    if (spent_ns)
        *spent_ns = (r ? gt_mono_ns() : now) - start;
    return r;
}

int64_t gt_spin_adapt(int64_t budget, int caught, int64_t spun_ns, int64_t waited_ns,
                      int64_t *last_wait_ns, int64_t lo, int64_t hi)
{
    int64_t last = *last_wait_ns;
    *last_wait_ns = waited_ns;
    if (caught)
        budget *= 2;
    else if (waited_ns < hi && waited_ns >= 2 * spun_ns && budget < 2 * waited_ns &&
             last < hi)
        budget = 2 * waited_ns; /* it came well after we gave up, but soon, twice */
    else
        budget /= 2;
    return budget < lo ? lo : budget > hi ? hi : budget;
}

/* ---- the completion sequence ------------------------------------------------------ */

static _Atomic uint64_t done_seq;
static _Atomic int64_t done_budget = GT_DONE_SPIN_MAX_NS;
static _Atomic int64_t done_last_wait_ns; /* shared by the waiters: a hint, as the budget */
static _Atomic int done_spinners; /* waiters holding a budget */

static _Atomic int64_t done_post_ns; /* when the last post came */

void gt_done_post(void)
{
    atomic_store_explicit(&done_post_ns, gt_mono_ns(), memory_order_relaxed);
    atomic_fetch_add_explicit(&done_seq, 1, memory_order_release);
}

int64_t gt_done_posted_after(int64_t start)
{
    int64_t d = atomic_load_explicit(&done_post_ns, memory_order_relaxed) - start;
    return d >= 0 ? d : gt_mono_ns() - start;
}

uint64_t gt_done_seq(void) { return atomic_load_explicit(&done_seq, memory_order_acquire); }

int64_t gt_done_budget(void)
{
    if (!gt_spin_allowed())
        return 0;
    int most = atomic_load_explicit(&ncpus, memory_order_relaxed) / 2;
    if (atomic_fetch_add_explicit(&done_spinners, 1, memory_order_relaxed) >= (most > 1 ? most : 1)) {
        atomic_fetch_sub_explicit(&done_spinners, 1, memory_order_relaxed);
        return 0;
    }
    return atomic_load_explicit(&done_budget, memory_order_relaxed);
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
    atomic_fetch_sub_explicit(&done_spinners, 1, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&done_budget, memory_order_relaxed);
    int64_t last = atomic_load_explicit(&done_last_wait_ns, memory_order_relaxed);
    b = gt_spin_adapt(b, caught, spun_ns, waited_ns, &last, GT_DONE_SPIN_MIN_NS,
                      GT_DONE_SPIN_MAX_NS);
    atomic_store_explicit(&done_last_wait_ns, last, memory_order_relaxed);
    atomic_store_explicit(&done_budget, b, memory_order_relaxed);
}

/* ---- the pool's two decisions ------------------------------------------------------ */

static _Atomic int64_t result_returned_ns; /* when a result() last came back */

void gt_spin_result_returned(void)
{
    atomic_store_explicit(&result_returned_ns, gt_mono_ns(), memory_order_relaxed);
}

int gt_spin_hot(int woke, long queued, long busy)
{
    return woke == 0 || (woke < 0 && queued <= busy) ||
           gt_mono_ns() - atomic_load_explicit(&result_returned_ns, memory_order_relaxed) <
               GT_LOOP_NS;
}

int gt_note_park(gt_note *n, int64_t timeout_ns, int (*gil_free)(void *))
{
    gt_done_post();
    int r = gt_note_sleep(n, timeout_ns);
    if (r == 1 && !n->slept && gil_free && gt_spin_allowed())
        gt_spin_until(gil_free, NULL, GT_GIL_SPIN_NS, NULL);
    return r;
}
