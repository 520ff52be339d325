/*
 * test_adapt.c -- the adaptive-concurrency controller (csrc/adapt.c) against models of
 * the workloads in bench/adaptive.py, on a simulated clock: deterministic, so its
 * verdicts do not depend on how busy the machine is.  A model says, for a limit L,
 * how many tasks finish per second and what each costs; the simulation feeds the
 * controller those tasks (with +-8% noise from a fixed-seed generator) and ticks it
 * every GT_ADAPT_TICK_NS, as the pool does.  Part of the test_runtime binary.
 */
#include <stdio.h>

#include "gothreads.h"

int test_adapt(void);

static int failures;

#define EXPECT(cond, ...)                                                                 \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            failures++;                                                                   \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            printf(__VA_ARGS__);                                                          \
            printf("\n");                                                                 \
        }                                                                                 \
    } while (0)

typedef struct model {
    const char *name;
    double (*x)(long limit);       /* tasks per second at a limit (with a backlog) */
    double cpu_s;                  /* thread CPU seconds per task */
    int gil;                       /* the task CPU holds the GIL: at most one core */
} model;

static double x_a(long l) { return 1000 / (1 + 0.002 * l); } /* 1 ms holding the GIL */
static double x_b(long l) { return (l < 4 ? l : 4) * 100 / (1 + 0.002 * l); } /* 10 ms, GIL released, 4 CPUs */
static double x_c(long l) { return l / 0.050; }              /* 50 ms waits */
static double x_d(long l) { double x = l / 0.021; return x < 1000 ? x : 1000; } /* 1 ms + 20 ms */
static double x_e(long l) { return (l < 16 ? l : 16) / 0.010; } /* a server of 16, 10 ms */
static double x_f(long l) { return (l < 16 ? l : 16) / (0.010 * (1 + 0.05 * (l > 16 ? l - 16 : 0))); }
static double x_stuck(long l) { (void)l; return 0; }

static const model A = {"A", x_a, 0.001, 1}, B = {"B", x_b, 0.010, 0},
                   C = {"C", x_c, 0, 0}, D = {"D", x_d, 0.001, 1}, E = {"E", x_e, 0.00005, 0},
                   F = {"F", x_f, 0.00005, 0}, STUCK = {"stuck", x_stuck, 0, 0};

static unsigned long long rng = 88172645463325252ULL;
static double noise(void) /* uniform in [-0.08, 0.08] */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((double)(rng % 10001) / 10000 - 0.5) * 0.16;
}

typedef struct run {
    double x_sum, limit_sum;
    long ticks, limit_max, limit_min;
} run;

/* Run `m` for `secs` simulated seconds from `*now`; measure over the last `measure`. */
static run simulate(gt_adapt *a, const model *m, double secs, double measure, int64_t *now,
                    int saturated)
{
    const int64_t tick = GT_ADAPT_TICK_NS;
    run r = {0, 0, 0, 0, 1L << 30};
    double carry = 0;
    long ticks = (long)(secs * 1e9 / tick), from = ticks - (long)(measure * 1e9 / tick);
    for (long t = 0; t < ticks; t++) {
        long limit = a->limit;
        double x = m->x(limit) * (1 + noise());
        double n = x * tick / 1e9 + carry;
        long done = (long)n;
        carry = n - done;
        double wall = x > 0 ? limit / m->x(limit) : 0;
        for (long i = 0; i < done; i++) {
            int64_t end = *now + (tick * (i + 1)) / (done + 1);
            /* the CPU clock of one task in GT_ADAPT_CPU_EVERY, as the pool reads it */
            int64_t cpu = (a->tasks % GT_ADAPT_CPU_EVERY) ? -1 : (int64_t)(m->cpu_s * 1e9);
            gt_adapt_task(a, end, (int64_t)(wall * 1e9), cpu, saturated);
        }
        *now += tick;
        gt_adapt_tick(a, *now, saturated ? 1000 : 0, limit);
        if (t >= from) {
            r.x_sum += m->x(limit);
            r.limit_sum += limit;
            r.ticks++;
            if (limit > r.limit_max)
                r.limit_max = limit;
            if (limit < r.limit_min)
                r.limit_min = limit;
        }
    }
    return r;
}

static double best_x(const model *m, long ceiling, long *at)
{
    double best = 0;
    for (long l = 1; l <= ceiling; l++)
        if (m->x(l) > best + 1e-9) {
            best = m->x(l);
            *at = l;
        }
    return best;
}

/* Steady state: after `warm` seconds, throughput at least 0.9 of the best fixed limit
 * over the next 20 s, and the mean limit within [lo, hi] (probes go beyond it for a
 * window at a time). */
static void steady(const model *m, int ncpu, long start, double warm, long lo, long hi)
{
    gt_adapt a;
    int64_t now = 1000000000;
    long at = 0;
    double best = best_x(m, 256, &at);
    gt_adapt_init(&a, start, 256, ncpu, now);
    simulate(&a, m, warm, 0, &now, 1);
    run r = simulate(&a, m, 20, 20, &now, 1);
    double ratio = r.x_sum / r.ticks / best;
    printf("adapt %s: best %ld at %.0f/s; adaptive mean limit %.1f (%ld..%ld), "
           "throughput %.3f of best, %llu changes\n", m->name, at, best,
           r.limit_sum / r.ticks, r.limit_min, r.limit_max, ratio,
           (unsigned long long)a.changes);
    EXPECT(ratio >= 0.9, "%s: throughput %.3f of the best fixed limit", m->name, ratio);
    double mean = r.limit_sum / r.ticks;
    EXPECT(mean >= lo && mean <= hi, "%s: mean limit %.1f, want %ld..%ld", m->name, mean,
           lo, hi);
}

static void phases(void)
{
    /* C, then A, then D: within 3 s of each change, 90% of the new best throughput. */
    const model *seq[] = {&C, &A, &D};
    gt_adapt a;
    int64_t now = 1000000000;
    gt_adapt_init(&a, 2, 256, 2, now);
    for (int i = 0; i < 3; i++) {
        long at = 0;
        double best = best_x(seq[i], 256, &at);
        simulate(&a, seq[i], 3, 0, &now, 1);
        run r = simulate(&a, seq[i], 5, 5, &now, 1);
        double ratio = r.x_sum / r.ticks / best;
        printf("adapt phase %s: 3-8 s after the change: throughput %.3f of best, "
               "limit %ld..%ld\n", seq[i]->name, ratio, r.limit_min, r.limit_max);
        EXPECT(ratio >= 0.9, "phase %s: throughput %.3f of best 3 s after the change",
               seq[i]->name, ratio);
    }
}

static void starvation(void)
{
    /* Nothing finishes and work is queued: the limit rises by one per 500 ms, so a
     * task waiting for one queued behind it gets it (the stdlib would run both). */
    gt_adapt a;
    int64_t now = 1000000000;
    gt_adapt_init(&a, 1, 8, 2, now);
    simulate(&a, &STUCK, 1.2, 0, &now, 1);
    EXPECT(a.limit == 3 && a.reason == GT_ADAPT_STARVED, "starved: limit %ld (%s)", a.limit,
           gt_adapt_reason(a.reason));
    simulate(&a, &STUCK, 10, 0, &now, 1);
    EXPECT(a.limit == 8, "starved: up to the ceiling only, %ld", a.limit);
}

static void app_limited(void)
{
    /* Nothing queued behind the finishing tasks: the work sets the pace, no move. */
    gt_adapt a;
    int64_t now = 1000000000;
    gt_adapt_init(&a, 4, 64, 2, now);
    simulate(&a, &C, 10, 0, &now, 0);
    EXPECT(a.limit == 4 && a.changes == 0 && a.reason == GT_ADAPT_APP_LIMITED,
           "app-limited: limit %ld after %llu changes (%s)", a.limit,
           (unsigned long long)a.changes, gt_adapt_reason(a.reason));
}

static void pause_and_resume(void)
{
    /* Held (as after refused probes), then the pool pauses: when work comes back, the
     * controller probes as from a start, doubling. */
    gt_adapt a;
    int64_t now = 1000000000;
    gt_adapt_init(&a, 64, 256, 2, now);
    gt_adapt_hold(&a, 64, now);
    simulate(&a, &C, 1.5, 0, &now, 1);
    EXPECT(a.limit == 64, "held: %ld", a.limit);
    gt_adapt_resume(&a, now);
    simulate(&a, &C, 1.5, 0, &now, 1);
    EXPECT(a.limit == 256, "resumed: %ld", a.limit);
}

static void ceiling(void)
{
    gt_adapt a;
    int64_t now = 1000000000;
    gt_adapt_init(&a, 2, 16, 2, now);
    simulate(&a, &C, 10, 0, &now, 1);
    EXPECT(a.limit >= 12 && a.limit <= 16, "C under a ceiling of 16: %ld", a.limit);
    gt_adapt_set_ceiling(&a, 5, now);
    EXPECT(a.limit == 5, "a lower ceiling lowers the limit: %ld", a.limit);
    EXPECT(gt_adapt_tick(&a, now + 1, 0, 0) <= 5, "and it stays under it");
    /* A probe down from 40 is refused after the ceiling fell to 35: back to 35, not 40. */
    gt_adapt_init(&a, 40, 64, 2, now);
    gt_adapt_hold(&a, 40, now);
    a.hold = 0;
    a.up_next = 0;
    simulate(&a, &C, 0.1, 0, &now, 1); /* a base window at 40, then a probe to 32 */
    EXPECT(a.limit == 32, "probing down: %ld", a.limit);
    gt_adapt_set_ceiling(&a, 35, now);
    simulate(&a, &C, 0.25, 0, &now, 1); /* the probe is refused */
    EXPECT(a.limit <= 35, "a refused probe's way back stays under the ceiling: %ld", a.limit);
}

int test_adapt(void)
{
    steady(&A, 2, 2, 10, 1, 3);
    steady(&A, 8, 8, 10, 1, 3);
    steady(&B, 4, 2, 10, 3, 6);
    steady(&C, 2, 2, 10, 160, 256);
    steady(&D, 2, 2, 10, 16, 32);
    steady(&E, 2, 2, 10, 12, 24);
    steady(&F, 2, 2, 10, 12, 20);
    phases();
    starvation();
    app_limited();
    pause_and_resume();
    ceiling();
    EXPECT(gt_adapt_reason(-1)[0] == '?' && gt_adapt_reason(GT_ADAPT_STARVED)[0] != '?',
           "reasons");
    return failures;
}
