/*
 * gothreads.h -- the C runtime's one face to Cython (gothreads/includes/runtime.pxd
 * mirrors it, in this order).  Everything else in csrc/ is internal.
 *
 * Errors are returned as negative errno values; nothing here raises into Python.
 * Every function is safe to call without the GIL, and none of them ever takes it.
 */
#ifndef GOTHREADS_H
#define GOTHREADS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kinds of M.  A "python" M is a pthread M whose body the bridge provides. */
typedef enum gt_mkind {
    GT_M_RAW = 0,     /* clone() + assembly exitThread; the body may not call libc */
    GT_M_PTHREAD = 1, /* joinable pthread on a runtime stack; reaped after tryjoin */
} gt_mkind;

/* The body of an M.  For a raw M it must be built with gt_raw_fn rules (see m_raw.c). */
typedef void (*gt_mfn)(void *arg);

typedef struct gt_stats {
    uint64_t ms_created;         /* Ms whose thread was started */
    uint64_t ms_exited;          /* Ms that reached mexit (now on freem or reaped) */
    uint64_t ms_reaped;          /* Ms whose stack and record were reclaimed */
    uint64_t ms_live;            /* ms_created - ms_exited */
    uint64_t freem_len;          /* ms_exited - ms_reaped */
    uint64_t freem_pushbacks;    /* reap scans that had to push Ms back onto freem */
    uint64_t stacks_mapped;      /* stacks currently mmap'd (in use or cached) */
    uint64_t stacks_cached;      /* of which sit in the LIFO cache */
    uint64_t stack_bytes_mapped; /* bytes of those mappings, guard pages included */
    uint64_t stack_cache_limit;  /* most stacks the cache keeps */
} gt_stats;

/* Start one M of `kind` running fn(arg) on a runtime stack of `stack_size` bytes
 * (0: the default, as for a normal pthread).  Reaps freem first, as Go's allocm does.
 * Returns 0 or -EINVAL (bad size), -ENOSYS (raw Ms unsupported here), -EAGAIN, -ENOMEM. */
int gt_newm(gt_mkind kind, gt_mfn fn, void *arg, size_t stack_size);

/* Reclaim every M on freem whose stack is provably unused.  Returns how many. */
int gt_reap(void);

void gt_get_stats(gt_stats *st);

/* 1 if this build has raw Ms (an assembly exitThread for this OS/arch), else 0. */
int gt_raw_supported(void);

/* Page-round and validate a stack size: the rounded size, or -EINVAL. 0 -> default. */
long gt_stack_size(size_t requested);
size_t gt_stack_size_min(void);
size_t gt_stack_size_max(void);

/* How many freed stacks the LIFO cache keeps; surplus is unmapped (now and later). */
void gt_set_stack_cache_limit(size_t n);

/* Create `count` Ms of `kind` running fn(arg), at most `concurrency` in flight, wait
 * for them to finish and reap them.  fn NULL: a no-op body (the only body allowed for
 * raw Ms).  Stores the elapsed seconds.  Returns 0 or a negative errno. */
int gt_churn(gt_mkind kind, long count, int concurrency, gt_mfn fn, void *arg,
             size_t stack_size, double *seconds);

/* Set the calling thread's OS-visible name (truncated to what the OS allows). */
void gt_set_thread_name(const char *name);

/* A note (Go's): one sleeper, any number of wakers; the sleeper spins a bounded,
 * adaptive while before it sleeps in the kernel (note.c).  After a wait, `slept` says
 * whether it went to the kernel (spin.c: a woken worker's GIL spin). */
typedef struct gt_note {
    _Atomic uint32_t key;
    int64_t spin_ns; /* the sleeper's own: current spin budget */
    int64_t last_wait_ns; /* the sleeper's own: how long its last wait took */
    int slept; /* the sleeper's own: its last wait went to sleep in the kernel */
    _Atomic int64_t woken_ns; /* when the last wakeup was posted (gt_mono_ns) */
} gt_note;

void gt_note_init(gt_note *n);
/* Returns 1 when the sleeper was asleep in the kernel (a futex wake was needed), 0
 * when it was awake: spinning, or not yet asleep.  The waker's hint (spin.c). */
int gt_note_wakeup(gt_note *n);
void gt_note_clear(gt_note *n);
/* 1 when woken (the wakeup is consumed), 0 after timeout_ns (<0: no timeout). */
int gt_note_sleep(gt_note *n, int64_t timeout_ns);

/* Spinning (spin.c): whether a waiter may spin now (more than one usable CPU, not
 * turned off), and a bounded spin until done(arg) holds.  Returns 1 when it held;
 * stores the time spent when spent_ns. */
int gt_spin_allowed(void);
int gt_spin_until(int (*done)(void *), void *arg, int64_t budget_ns, int64_t *spent_ns);
int64_t gt_mono_ns(void);

/* The completion sequence: a worker posts after it published a result and released
 * the GIL; a thread waiting for a result spins until the sequence moves past `seen`,
 * within a shared adaptive budget (take it with gt_done_budget(), spend it over
 * several gt_done_spin calls, report the outcome with gt_done_adapt). */
void gt_done_post(void);
/* How long after `start` (gt_mono_ns) the last post came; if none came since, how
 * long ago `start` was. */
int64_t gt_done_posted_after(int64_t start);
uint64_t gt_done_seq(void);
/* The budget for one wait, 0 when it must not spin (spinning not allowed, or as many
 * waiters spin already as half the usable CPUs); a non-zero budget must be given
 * back with gt_done_adapt. */
int64_t gt_done_budget(void);
int gt_done_spin(uint64_t seen, int64_t *left_ns);
void gt_done_adapt(int caught, int64_t spun_ns, int64_t waited_ns);

/* The pool's spin decisions (spin.c).  gt_spin_hot: does a waiter in result() for a
 * task just queued spin?  woke: what waking a worker for it said (gt_note_wakeup: 1
 * from the kernel, 0 awake), or -1 when no worker was woken; queued and busy: the
 * pool's queue length and running tasks.  gt_spin_result_returned: a result() came
 * back (a submission soon after is a loop).  gt_note_park: a worker that published its
 * result waits for work (gt_note_sleep's answer); gil_free (may be NULL) tells whether
 * the GIL is free, for the spin of a worker woken while it spun. */
int gt_spin_hot(int woke, long queued, long busy);
void gt_spin_result_returned(void);
int gt_note_park(gt_note *n, int64_t timeout_ns, int (*gil_free)(void *));

/* Adaptive concurrency (adapt.c): how many tasks a pool created with adaptive=True
 * runs at once.  The pool reports each task (gt_adapt_task: when it ended, its wall
 * and thread CPU time, whether work was queued behind it) and ticks the controller
 * every GT_ADAPT_TICK_NS; gt_adapt_tick returns the limit.  The caller serializes the
 * calls (the pool holds the GIL) and passes the time (gt_mono_ns), so a test can
 * drive it with a simulated clock. */
#define GT_ADAPT_TICK_NS (50 * 1000 * 1000LL)

enum gt_adapt_reason {
    GT_ADAPT_START, GT_ADAPT_PROBE_UP, GT_ADAPT_PROBE_DOWN, GT_ADAPT_UP_PAID,
    GT_ADAPT_UP_REFUSED, GT_ADAPT_DOWN_FREE, GT_ADAPT_DOWN_REFUSED, GT_ADAPT_APP_LIMITED,
    GT_ADAPT_GIL_BOUND, GT_ADAPT_CPU_BOUND, GT_ADAPT_HOLDING, GT_ADAPT_SHIFTED,
    GT_ADAPT_STARVED, GT_ADAPT_CEILING,
};

typedef struct gt_adapt {
    long limit;            /* the answer: tasks the pool runs at once */
    long ceiling;          /* max_workers */
    int ncpu;
    int reason;            /* why the limit is what it is (gt_adapt_reason) */
    double x;              /* the last window's throughput, tasks per second */
    double cores;          /* the last window's task CPU time per second */
    uint64_t changes, windows, tasks;
    int64_t mean_wall_ns;  /* a task's wall time, smoothed */
    /* the controller's own */
    int64_t last_progress_ns;
    int64_t win_start_ns;
    long win_tasks, win_saturated, win_cpu_tasks;
    int64_t win_cpu_ns, win_wall_ns;
    double base_x;         /* throughput at base_limit, the window before a probe */
    long base_limit;
    int probe;             /* the window measures a probe: +1 up, -1 down, 0 none */
    int up_next;           /* the next probe after a wait goes up */
    int streak;            /* probes kept in a row: each goes further */
    int hold, backoff;     /* windows to wait before the next probe; its doubling */
    double gil_task_cpu;   /* CPU ns per task when the tasks were last seen GIL-bound */
} gt_adapt;

void gt_adapt_init(gt_adapt *a, long initial, long ceiling, int ncpu, int64_t now);
void gt_adapt_set_ceiling(gt_adapt *a, long ceiling, int64_t now);
/* The pool was idle and has work again. */
void gt_adapt_resume(gt_adapt *a, int64_t now);
/* A test's hook: the limit is `limit`, held there (no probes) until starvation. */
void gt_adapt_hold(gt_adapt *a, long limit, int64_t now);
/* cpu_ns < 0: not measured (the pool reads the CPU clock of one task in GT_ADAPT_CPU_EVERY). */
#define GT_ADAPT_CPU_EVERY 4
void gt_adapt_task(gt_adapt *a, int64_t end_ns, int64_t wall_ns, int64_t cpu_ns, int saturated);
long gt_adapt_tick(gt_adapt *a, int64_t now, long queued, long busy);
const char *gt_adapt_reason(int reason);
/* The calling thread's CPU time (the OS layer's thread clock). */
int64_t gt_thread_cpu_ns(void);
/* Usable CPUs (affinity, cpuset), as the spin policy counts them. */
int gt_ncpus(void);

#ifdef __cplusplus
}
#endif
#endif /* GOTHREADS_H */
