/*
 * adapt.c -- adaptive concurrency: how many tasks an executor created with
 * adaptive=True runs at once.  The bridge (gothreads/_pool.pyx) reports each task's
 * wall and CPU time (gt_adapt_task) and calls gt_adapt_tick every GT_ADAPT_TICK_NS
 * from the pool's controller thread; the answer is the pool's limit, between 1 and
 * max_workers.  Nothing here reads a clock or takes a lock: the caller passes the
 * time, and the pool calls in with the GIL held.  So the policy runs the same under a
 * simulated clock (tests/c/test_runtime.c drives it through models of the issue's
 * workloads) as in a pool.
 *
 * The controller is a hill climber on measured throughput, in the spirit of .NET's
 * thread pool, with the failures its maintainers and Netflix's concurrency-limits'
 * users report designed out:
 *
 *   - A window measures throughput (tasks finished per second) at one limit.  It
 *     opens once the last change has settled (the mean task's wall time after it,
 *     at most GT_ADAPT_SETTLE_MAX_NS: the tasks running under the old limit have
 *     finished) and closes after GT_ADAPT_WIN_NS and GT_ADAPT_WIN_TASKS tasks, or
 *     after GT_ADAPT_WIN_MAX_NS with at least one.  Short windows are noisy, so no
 *     single window decides alone: a move is a probe, kept only when the window
 *     after it beats the one before it by a margin (below).
 *   - Probes go up and down in turn.  Up is kept when throughput rose by more than
 *     GT_ADAPT_GAIN of what the move could give at best (and at least GT_ADAPT_NOISE);
 *     down is kept unless throughput fell by more than half of what the move could
 *     cost at worst (and more than GT_ADAPT_NOISE): when two limits do the same, the
 *     smaller wins, so the limit sits at the knee of the throughput curve, not above
 *     it (a thread that adds nothing costs switching, memory and tail latency).
 *   - A kept probe is followed by a larger one in the same direction (x1.25, x1.5,
 *     x2: from 1 to 256 in about ten windows); a refused one goes back and waits
 *     before probing again, twice as long after each refusal, up to GT_ADAPT_HOLD_MAX
 *     windows, so that at the optimum probing costs little: a probe past the knee
 *     runs some tasks slower for a window (with 16 windows between probes, the
 *     slowest 1% of requests to a server of 16 took 1.9x the oracle's time; 32).
 *   - Only a limit in use is measured (Netflix's "app-limited"): a window in which
 *     most finishing tasks left nothing queued says the work, not the limit, set the
 *     pace, and it moves nothing.
 *   - The GIL.  Tasks whose CPU time adds up to about one core (their thread CPU clocks
 *     over the window: GT_ADAPT_GIL_LO..GT_ADAPT_GIL_HI cores) while two or more run
 *     on a machine with several CPUs are serialized by the GIL: another thread could
 *     only wait for it, so the limit does not probe up (it still probes down, which
 *     finds the least that keeps the GIL busy: 1-2 for pure Python, about wall/CPU
 *     for tasks that also wait).  At a limit of 1 one core is busy either way; there
 *     the rule holds for tasks of the kind (CPU per task) last seen GIL-bound at 2 or
 *     more (same_tasks).  Tasks that already use GT_ADAPT_CPU_FULL of every
 *     CPU do not probe up either (.NET's rule at 95%).  Tasks that release the GIL show
 *     more than one core and are free to grow to the CPU count.  The time a thread
 *     waits for the GIL itself is not visible without hooks in the interpreter; its
 *     CPU clock and the pool's throughput are, cheaply.
 *   - A workload that changes: two windows in a row at the same limit whose
 *     throughputs differ by more than GT_ADAPT_SHIFT end every wait, and probing
 *     restarts at once.
 *   - A pause (the pool idle: gt_adapt_resume) forgets the windows before it, as a
 *     workload change does.
 *   - Starvation (.NET's watchdog): tasks queued behind a full limit while no task
 *     finished for GT_ADAPT_STARVE_NS (or four mean task times, if longer) raise the
 *     limit by one, and again each such period.  Without it a lowered limit could
 *     deadlock a program the stdlib runs -- a task that waits for one queued behind
 *     it -- and long tasks would leave the controller blind.
 *
 * The numbers, all in one place.
 */
#include "gothreads.h"
#include "runtime.h"

#define GT_ADAPT_WIN_NS        (100 * 1000 * 1000LL)
#define GT_ADAPT_WIN_MAX_NS    (2000 * 1000 * 1000LL)
#define GT_ADAPT_WIN_TASKS     16
#define GT_ADAPT_SETTLE_MAX_NS (1000 * 1000 * 1000LL)
#define GT_ADAPT_STARVE_NS     (500 * 1000 * 1000LL)
#define GT_ADAPT_HOLD_MAX      32
#define GT_ADAPT_GAIN          0.5
#define GT_ADAPT_NOISE         0.05
#define GT_ADAPT_SHIFT         0.35
#define GT_ADAPT_GIL_LO        0.85
#define GT_ADAPT_GIL_HI        1.3
#define GT_ADAPT_CPU_FULL      0.9
#define GT_ADAPT_SAME_TASKS    0.3

static const char *const reasons[] = {
    [GT_ADAPT_START] = "start",
    [GT_ADAPT_PROBE_UP] = "probing up",
    [GT_ADAPT_PROBE_DOWN] = "probing down",
    [GT_ADAPT_UP_PAID] = "more tasks at once raised throughput",
    [GT_ADAPT_UP_REFUSED] = "more tasks at once did not raise throughput",
    [GT_ADAPT_DOWN_FREE] = "fewer tasks at once kept throughput",
    [GT_ADAPT_DOWN_REFUSED] = "fewer tasks at once lowered throughput",
    [GT_ADAPT_APP_LIMITED] = "the limit is not in use",
    [GT_ADAPT_GIL_BOUND] = "the tasks hold the GIL",
    [GT_ADAPT_CPU_BOUND] = "the CPUs are busy",
    [GT_ADAPT_HOLDING] = "holding",
    [GT_ADAPT_SHIFTED] = "the workload changed",
    [GT_ADAPT_STARVED] = "queued tasks starved",
    [GT_ADAPT_CEILING] = "at max_workers",
};

const char *gt_adapt_reason(int reason)
{
    if (reason < 0 || reason >= (int)(sizeof reasons / sizeof reasons[0]) || !reasons[reason])
        return "?";
    return reasons[reason];
}

static long clamp(const gt_adapt *a, long limit)
{
    if (limit < 1)
        limit = 1;
    return limit > a->ceiling ? a->ceiling : limit;
}

static void open_window(gt_adapt *a, int64_t now)
{
    int64_t settle = a->mean_wall_ns;
    if (settle > GT_ADAPT_SETTLE_MAX_NS)
        settle = GT_ADAPT_SETTLE_MAX_NS;
    a->win_start_ns = now + settle;
    a->win_tasks = a->win_saturated = a->win_cpu_tasks = 0;
    a->win_cpu_ns = a->win_wall_ns = 0;
}

void gt_adapt_init(gt_adapt *a, long initial, long ceiling, int ncpu, int64_t now)
{
    *a = (gt_adapt){0};
    a->ceiling = ceiling < 1 ? 1 : ceiling;
    a->ncpu = ncpu < 1 ? 1 : ncpu;
    a->limit = clamp(a, initial);
    a->reason = GT_ADAPT_START;
    a->up_next = 1; /* the first probe goes up, and doubles (a start from a guess) */
    a->last_progress_ns = now;
    open_window(a, now);
}

void gt_adapt_set_ceiling(gt_adapt *a, long ceiling, int64_t now)
{
    a->ceiling = ceiling < 1 ? 1 : ceiling;
    if (a->limit > a->ceiling) {
        a->limit = a->ceiling;
        a->reason = GT_ADAPT_CEILING;
        a->base_x = 0;
        a->probe = 0;
        open_window(a, now);
    }
}

void gt_adapt_hold(gt_adapt *a, long limit, int64_t now)
{
    a->limit = clamp(a, limit);
    a->probe = 0;
    a->base_x = 0;
    a->hold = 1 << 30;
    open_window(a, now);
}

void gt_adapt_resume(gt_adapt *a, int64_t now)
{
    /* What the windows before the pause measured says nothing about the work that
     * comes now: probe as from a start, from the limit that served last. */
    a->probe = 0;
    a->base_x = 0;
    a->hold = a->backoff = 0;
    a->streak = 2;
    a->up_next = 1;
    a->gil_task_cpu = 0;
    a->last_progress_ns = now;
    open_window(a, now);
}

void gt_adapt_task(gt_adapt *a, int64_t end_ns, int64_t wall_ns, int64_t cpu_ns, int saturated)
{
    a->last_progress_ns = end_ns;
    a->tasks++;
    /* the mean task time, smoothed over about eight tasks */
    a->mean_wall_ns += (wall_ns - a->mean_wall_ns) / 8;
    if (end_ns < a->win_start_ns)
        return; /* the last change is still settling */
    a->win_tasks++;
    a->win_saturated += saturated != 0;
    if (cpu_ns >= 0) {
        a->win_cpu_ns += cpu_ns;
        a->win_cpu_tasks++;
    }
    a->win_wall_ns += wall_ns;
}

/* Move to `limit` and say why; the next window measures it. */
static long move(gt_adapt *a, long limit, int reason, int64_t now)
{
    limit = clamp(a, limit); /* (a probe's base may be above a ceiling lowered since) */
    a->reason = reason;
    if (limit != a->limit) {
        a->limit = limit;
        a->changes++;
    }
    open_window(a, now);
    return a->limit;
}

static double step(const gt_adapt *a)
{
    return a->streak >= 2 ? 2.0 : a->streak == 1 ? 1.5 : 1.25;
}

static long up_from(const gt_adapt *a, long limit)
{
    double to = limit * step(a);
    long l = (long)to + (to > (double)(long)to);
    return clamp(a, l > limit ? l : limit + 1);
}

static long down_from(const gt_adapt *a, long limit)
{
    long l = (long)(limit / step(a));
    return clamp(a, l < limit ? l : limit - 1);
}

/* Tasks of the same kind as those seen before: their CPU time per task is within
 * GT_ADAPT_SAME_TASKS of it.  At a limit of 1, GIL-bound tasks and tasks that release
 * the GIL look alike (one core busy); once a limit of 2 or more has shown these tasks
 * hold the GIL, the limit of 1 does not probe up again for them (each probe ran two
 * at once for a window: the slowest 1% of tasks took 5x the time of one alone). */
static int same_tasks(double seen, double now)
{
    return seen > 0 && now > seen * (1 - GT_ADAPT_SAME_TASKS) &&
           now < seen * (1 + GT_ADAPT_SAME_TASKS);
}

/* A refused probe: back to the limit before it, and wait twice as long as last time
 * before the next. */
static long refuse(gt_adapt *a, int reason, int64_t now)
{
    a->backoff = a->backoff ? a->backoff * 2 : 1;
    if (a->backoff > GT_ADAPT_HOLD_MAX)
        a->backoff = GT_ADAPT_HOLD_MAX;
    a->hold = a->backoff;
    a->streak = 0;
    a->probe = 0;
    a->up_next = !a->up_next;
    return move(a, a->base_limit, reason, now);
}

long gt_adapt_tick(gt_adapt *a, int64_t now, long queued, long busy)
{
    /* Starvation: work waits behind a full limit and nothing finishes. */
    int64_t starve = 4 * a->mean_wall_ns;
    if (starve < GT_ADAPT_STARVE_NS)
        starve = GT_ADAPT_STARVE_NS;
    if (queued > 0 && busy >= a->limit && a->limit < a->ceiling &&
        now - a->last_progress_ns >= starve) {
        a->last_progress_ns = now;
        a->probe = 0;
        a->base_x = 0;
        a->hold = a->backoff = 0;
        return move(a, a->limit + 1, GT_ADAPT_STARVED, now);
    }

    int64_t elapsed = now - a->win_start_ns;
    if (elapsed < GT_ADAPT_WIN_NS || a->win_tasks == 0 ||
        (a->win_tasks < GT_ADAPT_WIN_TASKS && elapsed < GT_ADAPT_WIN_MAX_NS))
        return a->limit;

    /* The window closes. */
    double secs = elapsed / 1e9;
    double x = a->win_tasks / secs;
    double task_cpu = a->win_cpu_tasks ? (double)a->win_cpu_ns / a->win_cpu_tasks : 0;
    double cores = task_cpu * a->win_tasks / 1e9 / secs;
    a->x = x;
    a->cores = cores;
    a->windows++;

    if (a->win_saturated * 2 < a->win_tasks) {
        /* The work set the pace: nothing to learn about the limit. */
        a->probe = 0;
        a->base_x = 0;
        return move(a, a->limit, GT_ADAPT_APP_LIMITED, now);
    }

    if (a->probe) {
        double ratio = (double)a->limit / a->base_limit;
        double rel = x / a->base_x - 1;
        if (a->probe > 0) {
            double need = GT_ADAPT_GAIN * (ratio - 1);
            if (rel < (need > GT_ADAPT_NOISE ? need : GT_ADAPT_NOISE))
                return refuse(a, GT_ADAPT_UP_REFUSED, now);
            a->reason = GT_ADAPT_UP_PAID;
        } else {
            double allow = 0.5 * (1 - ratio);
            if (rel < -(allow > GT_ADAPT_NOISE ? allow : GT_ADAPT_NOISE))
                return refuse(a, GT_ADAPT_DOWN_REFUSED, now);
            a->reason = GT_ADAPT_DOWN_FREE;
        }
        /* Kept: it is the base now, and the next probe goes further the same way. */
        a->backoff = 0;
        a->streak++;
    } else if (a->base_x > 0 && a->base_limit == a->limit) {
        double rel = x / a->base_x - 1;
        if (rel > GT_ADAPT_SHIFT || rel < -GT_ADAPT_SHIFT) {
            a->hold = a->backoff = 0;
            a->streak = 2; /* probe as from a start: doubling, or halving */
            a->gil_task_cpu = 0;
            a->reason = GT_ADAPT_SHIFTED;
        }
    }
    a->base_x = x;
    a->base_limit = a->limit;

    if (a->hold > 0) {
        a->hold--;
        a->probe = 0;
        return move(a, a->limit, GT_ADAPT_HOLDING, now);
    }

    /* Probe: the same way as the last kept probe, else the other way in turn. */
    int up = a->probe ? a->probe > 0 : a->up_next;
    int blocked = 0;
    if (up) {
        if (a->limit >= a->ceiling)
            blocked = GT_ADAPT_CEILING;
        else if (cores >= GT_ADAPT_CPU_FULL * a->ncpu)
            blocked = GT_ADAPT_CPU_BOUND;
        else if (a->ncpu > 1 && cores >= GT_ADAPT_GIL_LO && cores <= GT_ADAPT_GIL_HI &&
                 (a->limit >= 2 || same_tasks(a->gil_task_cpu, task_cpu)))
            blocked = GT_ADAPT_GIL_BOUND;
        if (blocked == GT_ADAPT_GIL_BOUND && a->limit >= 2)
            a->gil_task_cpu = task_cpu; /* remembered for the limit of 1 */
        if (blocked) {
            if (a->probe > 0)
                a->streak = 0;
            up = 0;
        }
    }
    if (!up && a->limit <= 1) {
        /* Nowhere to go down; up is blocked or was just refused. */
        a->probe = 0;
        a->up_next = 1;
        a->hold = a->backoff ? a->backoff : 1;
        return move(a, a->limit, blocked ? blocked : GT_ADAPT_HOLDING, now);
    }
    if (a->reason == GT_ADAPT_SHIFTED)
        ; /* the streak the shift set */
    else if (a->probe == 0 || (a->probe > 0) != up)
        a->streak = a->windows == 1 && up ? 2 : 0;
    a->probe = up ? 1 : -1;
    a->up_next = !up;
    return move(a, up ? up_from(a, a->limit) : down_from(a, a->limit),
                up ? GT_ADAPT_PROBE_UP : GT_ADAPT_PROBE_DOWN, now);
}

int64_t gt_thread_cpu_ns(void) { return gt_os_thread_cpu_ns(); }

int gt_ncpus(void) { return gt_os_ncpus(); }
