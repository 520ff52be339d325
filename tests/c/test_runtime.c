/*
 * test_runtime.c -- the C-level test of the runtime, with no Python: churns raw and
 * pthread Ms, checks that maps, VmSize and the thread count stay flat, and that fork
 * leaves a clean child.  Built plain, with ASan+UBSan, with TSan, and for aarch64
 * under qemu (Makefile: sanitize, cross-test).
 *
 *   test_runtime [cycles [stack_kib]]   exits 0 when every check passed
 *
 * Also: the spin policy's budget rule, and a note and the completion sequence handed
 * across threads (spin.c, note.c), which TSan checks for races; and the adaptive
 * concurrency controller on a simulated clock (test_adapt.c).
 *
 * Built with -DGT_TEST_PREMATURE_REAP (see runtime.c's mdone) it is the negative
 * control: stacks are reused before the kernel is done with them, and it must fail.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gothreads.h"
#include "runtime.h"

static int passed, failed;
int test_adapt(void); /* test_adapt.c: how many of its checks failed */
/* GT_TEST_FOREIGN_RUNTIME: qemu, asan or tsan: a runtime under us that maps memory and
 * tracks threads of its own. */
static const char *foreign;
static size_t stack_bytes = 256 << 10; /* TSan keeps ~1 MiB of TLS in each stack */

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (cond) {                                                                       \
            passed++;                                                                     \
        } else {                                                                          \
            failed++;                                                                     \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            printf(__VA_ARGS__);                                                          \
            printf("\n");                                                                 \
        }                                                                                 \
    } while (0)

typedef struct procinfo {
    long maps, vmsize_kb, threads;
} procinfo;

static long status_field(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(name);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, name, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static procinfo proc_now(void)
{
    procinfo p = { 0, status_field("VmSize"), status_field("Threads") };
    FILE *f = fopen("/proc/self/maps", "r");
    int c;
    while (f && (c = fgetc(f)) != EOF)
        p.maps += c == '\n';
    if (f)
        fclose(f);
    return p;
}

/* The template thread (csrc/template.c) exits 0.5 s after the last M: wait for it, so
 * that a measurement does not catch one template starting while the last exits. */
static void wait_template_gone(void)
{
    for (int i = 0; i < 300 && status_field("Threads") > 1; i++)
        usleep(10000);
}

static void churn(gt_mkind kind, long cycles, int conc)
{
    double secs = 0;
    int rc = gt_churn(kind, cycles, conc, NULL, NULL, stack_bytes, &secs);
    CHECK(rc == 0, "churn kind %d conc %d: rc %d", kind, conc, rc);
    printf("churn %-7s x%ld conc %2d: %.2f us/M\n", kind == GT_M_RAW ? "raw" : "pthread",
           cycles, conc, secs / (double)(cycles ? cycles : 1) * 1e6);
}

static void check_balanced(const char *when)
{
    gt_stats st;
    gt_reap();
    gt_get_stats(&st);
    CHECK(st.ms_live == 0, "%s: ms_live %llu", when, (unsigned long long)st.ms_live);
    CHECK(st.freem_len == 0, "%s: freem_len %llu", when, (unsigned long long)st.freem_len);
    CHECK(st.ms_created == st.ms_reaped, "%s: created %llu reaped %llu", when,
          (unsigned long long)st.ms_created, (unsigned long long)st.ms_reaped);
    CHECK(st.stacks_mapped == st.stacks_cached, "%s: mapped %llu cached %llu", when,
          (unsigned long long)st.stacks_mapped, (unsigned long long)st.stacks_cached);
}

static void test_sizes(void)
{
    long page = sysconf(_SC_PAGESIZE);
    CHECK(gt_stack_size(1) == -EINVAL, "tiny stack accepted");
    CHECK(gt_stack_size((size_t)1 << 40) == -EINVAL, "huge stack accepted");
    long r = gt_stack_size(gt_stack_size_min() + 1);
    CHECK(r > 0 && r % page == 0 && (size_t)r >= gt_stack_size_min() + 1, "rounding: %ld", r);
    CHECK(gt_stack_size(0) > 0, "default size invalid");
    CHECK(gt_newm(GT_M_PTHREAD, NULL, NULL, 0) == -EINVAL, "NULL body accepted");
    CHECK(gt_newm((gt_mkind)7, NULL, NULL, 0) == -EINVAL, "bad kind accepted");
    CHECK(gt_churn(GT_M_PTHREAD, 1, 0, NULL, NULL, 0, NULL) == -EINVAL, "concurrency 0 accepted");
}

/* Ms parked in read() on a pipe, then a fork: the child must hold no M. */
static int pipefd[2];
static void park_body(void *arg)
{
    char c;
    (void)arg;
    while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
        ;
}

/* Until every M has exited and been reaped (their threads may still be in glibc's
 * exit path), or a second. */
static void wait_reaped(void)
{
    for (int i = 0; i < 1000; i++) {
        gt_stats st;
        gt_reap();
        gt_get_stats(&st);
        if (st.ms_live == 0 && st.freem_len == 0)
            break;
        usleep(1000);
    }
}

static void test_fork(void)
{
    CHECK(pipe(pipefd) == 0, "pipe");
    for (int i = 0; i < 4; i++)
        CHECK(gt_newm(GT_M_PTHREAD, park_body, NULL, stack_bytes) == 0, "newm %d", i);
    pid_t pid = fork();
    if (pid == 0) {
        gt_stats st;
        gt_get_stats(&st);
        int ok = st.ms_live == 0 && st.freem_len == 0 && st.stacks_mapped == st.stacks_cached;
        /* and the child can make Ms of its own (TSan cannot follow threads created
         * after a multi-threaded fork: it reports a "dup thread" for a reused stack) */
        double secs;
        ok = ok && (foreign && !strcmp(foreign, "tsan") ? 1 : 0 == gt_churn(GT_M_PTHREAD, 100, 2, NULL, NULL, stack_bytes, &secs));
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child status %#x", status);
    CHECK(write(pipefd[1], "xxxx", 4) == 4, "release");
    wait_reaped();
    close(pipefd[0]);
    close(pipefd[1]);
    check_balanced("after fork");
}

/* Ms that ask for Ms.  The request goes to the template thread, so the new M does not
 * inherit the asking M's affinity, even when the asking M was created just as the
 * template decided to leave (template.c: the pin).  Each round creates the tainted M
 * closer to the template's deadline, homing in on it as tests/test_runtime.py does;
 * the runtime's own assertion (an M always finds the template, unless forked from
 * an M) is on in this build. */
typedef struct mm_round {
    cpu_set_t taint, seen;
    _Atomic int rc, done;
    _Atomic int64_t served_ns;
} mm_round;

static void mm_noop(void *p) { (void)p; }

static void mm_first(void *p)
{
    mm_round *r = p;
    atomic_store(&r->rc, gt_newm(GT_M_PTHREAD, mm_noop, NULL, stack_bytes));
    atomic_store(&r->served_ns, gt_mono_ns()); /* the template's 0.5 s start now */
}

static void mm_recorder(void *p)
{
    mm_round *r = p;
    sched_getaffinity(0, sizeof r->seen, &r->seen);
    atomic_store(&r->done, 1);
}

static void mm_tainted(void *p)
{
    mm_round *r = p;
    sched_setaffinity(0, sizeof r->taint, &r->taint);
    int rc = gt_newm(GT_M_PTHREAD, mm_recorder, r, stack_bytes);
    if (rc)
        atomic_store(&r->rc, rc);
    if (rc)
        atomic_store(&r->done, 1);
}

/* The tid of the running template thread, or 0. */
static long template_tid(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long tid = 0;
    while (d && (e = readdir(d)) && !tid) {
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%.20s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f && fgets(comm, sizeof comm, f) && !strcmp(comm, "gothreads-tmpl\n"))
            tid = atol(e->d_name);
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return tid;
}

static void wait_flag(_Atomic int *flag)
{
    for (int i = 0; i < 10000 && !atomic_load(flag); i++)
        usleep(1000);
}

static void test_m_creates_m(void)
{
    cpu_set_t all;
    CHECK(sched_getaffinity(0, sizeof all, &all) == 0, "getaffinity");
    if (CPU_COUNT(&all) < 2) {
        printf("m creates m: skipped, one CPU\n");
        return;
    }
    int64_t offset = 0;
    int rounds = 8, inherited = 0, late = 0;
    for (int i = 0; i < rounds; i++) {
        mm_round r = { 0 };
        CPU_ZERO(&r.taint);
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &all)) {
                CPU_SET(c, &r.taint);
                break;
            }
        CHECK(gt_newm(GT_M_PTHREAD, mm_first, &r, stack_bytes) == 0, "newm first");
        while (!atomic_load(&r.served_ns))
            usleep(100);
        long before = template_tid();
        int64_t target = atomic_load(&r.served_ns) + 500000000 + offset;
        while (gt_mono_ns() < target - 2000000)
            usleep(500);
        while (gt_mono_ns() < target)
            gt_cpu_relax();
        CHECK(gt_newm(GT_M_PTHREAD, mm_tainted, &r, stack_bytes) == 0, "newm tainted");
        wait_flag(&r.done);
        CHECK(atomic_load(&r.rc) == 0, "an M's newm: rc %d", atomic_load(&r.rc));
        inherited += !CPU_EQUAL(&r.seen, &all);
        int was_late = template_tid() != before;
        late += was_late;
        offset += was_late ? -40000 : 40000;
    }
    CHECK(inherited == 0, "%d of %d Ms made by an M inherited its affinity", inherited, rounds);
    printf("m creates m: %d rounds, %d late, %d inherited\n", rounds, late, inherited);
}

/* Forked from inside an M, the child has no template: its M makes Ms itself. */
static void fork_in_m(void *p)
{
    _Atomic int *status = p;
    pid_t pid = fork();
    if (pid == 0) {
        int ok = 1;
        if (!(foreign && !strcmp(foreign, "tsan"))) { /* see test_fork */
            mm_round r = { 0 };
            ok = gt_newm(GT_M_PTHREAD, mm_recorder, &r, stack_bytes) == 0;
            wait_flag(&r.done);
            ok = ok && atomic_load(&r.done);
        }
        _exit(ok ? 0 : 1);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    atomic_store(status, st);
}

static void test_fork_in_m(void)
{
    _Atomic int status = -2;
    CHECK(gt_newm(GT_M_PTHREAD, fork_in_m, &status, stack_bytes) == 0, "newm");
    while (atomic_load(&status) == -2)
        usleep(1000);
    int st = atomic_load(&status);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child of a fork in an M: status %#x", st);
    wait_reaped();
}

static void test_spin_adapt(void)
{
    const int64_t lo = 1000, hi = 100000;
    int64_t last = 0;
    CHECK(gt_spin_adapt(8000, 1, 500, 500, &last, lo, hi) == 16000, "caught: doubles");
    CHECK(last == 500, "the wait is remembered");
    CHECK(gt_spin_adapt(80000, 1, 500, 500, &last, lo, hi) == hi, "caught: capped");
    CHECK(gt_spin_adapt(8000, 0, 8000, 9000, &last, lo, hi) == 4000,
          "missed, event right after the spin: halves");
    CHECK(gt_spin_adapt(2000, 0, 2000, 30000, &last, lo, hi) == 60000,
          "missed, event soon but well after the spin, twice: learns 2x the wait");
    CHECK(gt_spin_adapt(8000, 0, 8000, 5000000, &last, lo, hi) == 4000,
          "missed, event long after: halves");
    CHECK(gt_spin_adapt(2000, 0, 2000, 30000, &last, lo, hi) == lo,
          "missed, event soon after a wait that was long (a paced load's late request): "
          "halves, not re-armed");
    CHECK(gt_spin_adapt(1000, 0, 1000, 30000, &last, lo, hi) == 60000,
          "and the next soon wait re-arms it");
    CHECK(gt_spin_adapt(1500, 0, 1500, 1500, &last, lo, hi) == lo, "floor");
}

/* The brake's rule for a thread preempted between its spins: once per 31.25 us or more
 * often is a crowded machine. */
static void test_spin_preempted_often(void)
{
    CHECK(gt_spin_preempted_often(32, 1000000), "32 preemptions in 1 ms: crowded");
    CHECK(gt_spin_preempted_often(64, 1000000), "64 in 1 ms: crowded");
    CHECK(!gt_spin_preempted_often(31, 1000000), "31 in 1 ms (paced 10000/s): not crowded");
    CHECK(!gt_spin_preempted_often(320, 100000000), "320 in 100 ms: not crowded");
    CHECK(gt_spin_preempted_often(3200, 100000000), "3200 in 100 ms: crowded");
    CHECK(!gt_spin_preempted_often(0, 0) && !gt_spin_preempted_often(1, 0),
          "no time elapsed: no rate");
}

/* A note at its budget's floor does not spin; above it, it does (spinning allowed). */
static void test_note_floor(void)
{
    gt_note note;
    gt_note_init(&note);
    note.spin_ns = GT_NOTE_SPIN_FLOOR_NS;
    CHECK(gt_note_spin_budget(&note) == 0, "a note at its floor spins for %lld ns",
          (long long)gt_note_spin_budget(&note));
    note.spin_ns = 4 * GT_NOTE_SPIN_FLOOR_NS;
    CHECK(gt_note_spin_budget(&note) == (gt_spin_allowed() ? note.spin_ns : 0),
          "a note above its floor spins its budget when spinning is allowed");
}

/* A note says whether its last wait went to sleep in the kernel. */
static void test_note_slept(void)
{
    gt_note note;
    gt_note_init(&note);
    gt_note_wakeup(&note);
    CHECK(gt_note_sleep(&note, -1) == 1 && !note.slept, "woken before the wait: no sleep");
    CHECK(gt_note_sleep(&note, 1000000) == 0 && note.slept,
          "a wait that timed out after 1 ms went to the kernel");
}

/* A wakeup to a sleeper in the kernel wakes it and says so (1: the pool's hint that
 * the worker will be slow to start); to a note nobody sleeps on it returns 0. */
static _Atomic int note_woken;
static void *sleep_on_note(void *note)
{
    atomic_store(&note_woken, gt_note_sleep(note, 5000000000LL) == 1 ? 1 : -1);
    return NULL;
}

static void test_note_wakeup_from_the_kernel(void)
{
    gt_note note;
    pthread_t t;
    gt_note_init(&note);
    note.spin_ns = GT_NOTE_SPIN_FLOOR_NS; /* straight to the kernel */
    atomic_store(&note_woken, 0);
    pthread_create(&t, NULL, sleep_on_note, &note);
    while (atomic_load(&note.key) != 2)
        usleep(100);
    CHECK(gt_note_wakeup(&note) == 1, "a wakeup to a sleeper in the kernel returns 1");
    pthread_join(t, NULL);
    CHECK(atomic_load(&note_woken) == 1, "the wakeup did not wake the sleeper");
    CHECK(gt_note_wakeup(&note) == 0, "a wakeup to a note nobody sleeps on returns 0");
}

/* ---- a gap in a spin: the crowded-machine brake ---- */

static int never(void *unused)
{
    (void)unused;
    return 0;
}

static _Atomic int64_t gap_at; /* when busy_200us last began */
static void busy_200us(int sig)
{
    (void)sig;
    int64_t t = gt_mono_ns();
    atomic_store(&gap_at, t);
    while (gt_mono_ns() - t < 200000)
        gt_cpu_relax();
}

typedef struct interrupter {
    pthread_t target;
    _Atomic int go;
} interrupter;

static void *interrupt_after_5ms(void *arg)
{
    interrupter *in = arg;
    while (!atomic_load(&in->go))
        usleep(100);
    usleep(5000);
    pthread_kill(in->target, SIGUSR1);
    return NULL;
}

static _Atomic int hog_stop;
static void *hog(void *unused)
{
    (void)unused;
    while (!atomic_load(&hog_stop))
        gt_cpu_relax();
    return NULL;
}

/* A gap in a spin that no other thread caused (here a signal handler running 200 us on
 * the spinner's own thread; on a VM, the hypervisor descheduling the vCPU) does not stop
 * the spin; losing the CPU to another thread does.
 *
 * The first half is only decided by a try in which nothing preempted the spinner: its
 * count of involuntary context switches did not move from before the spinner last
 * looked at it (the short spin that runs out: spin.c looks when a spin runs out, at
 * most once a millisecond) to the end of the 20 ms spin, and the gap fell inside the
 * spin (or the spin stopped early: then no gap was needed to fail).  On a busy machine
 * (a CPU hog beside the test) every try may be spoiled; then, after 50 tries (about a
 * second), the check is skipped, and says so.  (It fails when any gap stops a spin:
 * checked by making preempted_by_a_thread always true.) */
static void test_spin_gaps(void)
{
    cpu_set_t was, one, other;
    sched_getaffinity(0, sizeof was, &was);
    CPU_ZERO(&one);
    CPU_ZERO(&other);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &was)) {
            if (CPU_COUNT(&one) == 0)
                CPU_SET(c, &one);
            else if (CPU_COUNT(&other) == 0)
                CPU_SET(c, &other);
        }
    pthread_attr_t attr;
    pthread_t t;
    int64_t spent = 0;
    if (CPU_COUNT(&other) > 0) {
        /* The interrupter on another CPU, so that it cannot preempt the spinner. */
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = busy_200us;
        sigaction(SIGUSR1, &sa, &old);
        sched_setaffinity(0, sizeof one, &one);
        pthread_attr_init(&attr);
        pthread_attr_setaffinity_np(&attr, sizeof other, &other);
        int tries = 0, preempted = 0, missed = 0, decided = 0;
        while (!decided && tries < 50) {
            tries++;
            interrupter in = { pthread_self(), 0 };
            pthread_create(&t, &attr, interrupt_after_5ms, &in);
            usleep(2000); /* over a millisecond since the spinner last looked ... */
            long before = gt_os_thread_preemptions();
            gt_spin_until(never, NULL, 1000, NULL); /* ... so this spin looks as it runs out */
            atomic_store(&gap_at, 0);
            atomic_store(&in.go, 1);
            int64_t start = gt_mono_ns();
            gt_spin_until(never, NULL, 20000000, &spent);
            long after = gt_os_thread_preemptions();
            pthread_join(t, NULL);
            int64_t gap = atomic_load(&gap_at);
            if (after != before)
                preempted++;
            else if (spent >= 20000000 && (gap == 0 || gap > start + spent))
                missed++; /* the interrupter ran late: no gap of ours in the spin */
            else
                decided = 1; /* not preempted, and a gap in it, or it stopped early */
        }
        pthread_attr_destroy(&attr);
        sched_setaffinity(0, sizeof was, &was);
        sigaction(SIGUSR1, &old, NULL);
        if (decided) {
            CHECK(spent >= 20000000,
                  "a gap of our own ended a 20 ms spin after %lld us (try %d, not preempted)",
                  (long long)(spent / 1000), tries);
            if (spent >= 20000000)
                printf("spin gaps: a gap of our own did not stop the spin (try %d of 50; "
                       "%d preempted, %d missed the spin)\n",
                       tries, preempted, missed);
        } else {
            printf("spin gaps: a gap of our own: skipped: machine busy (%d of %d tries "
                   "preempted, %d missed the spin)\n", preempted, tries, missed);
        }
    }

    /* The spinner and a busy thread on one CPU: the scheduler preempts the spinner. */
    pthread_attr_init(&attr);
    pthread_attr_setaffinity_np(&attr, sizeof one, &one);
    sched_setaffinity(0, sizeof one, &one);
    atomic_store(&hog_stop, 0);
    pthread_create(&t, &attr, hog, NULL);
    gt_spin_until(never, NULL, 2000000000LL, &spent);
    atomic_store(&hog_stop, 1);
    pthread_join(t, NULL);
    pthread_attr_destroy(&attr);
    sched_setaffinity(0, sizeof was, &was);
    CHECK(spent < 1000000000LL, "a spin that lost its CPU to a thread went on for %lld ms",
          (long long)(spent / 1000000));
    printf("spin gaps: a spin that lost its CPU to a thread stopped after %lld us\n",
           (long long)(spent / 1000));
}

typedef struct handoff {
    gt_note note;
    _Atomic int rounds;
} handoff;

static void *handoff_waker(void *arg)
{
    handoff *h = arg;
    for (int i = 0; i < 2000; i++) {
        while (atomic_load(&h->rounds) != i)
            gt_cpu_relax();
        if (i % 100 == 0)
            usleep(200); /* some wakeups find the sleeper in the kernel */
        gt_note_wakeup(&h->note);
        gt_done_post();
    }
    return NULL;
}

/* A note woken 2000 times, each wakeup seen exactly once, some while spinning and some
 * from the kernel; and the completion sequence moves with each post. */
static void test_note_handoff(void)
{
    handoff h;
    gt_note_init(&h.note);
    atomic_store(&h.rounds, 0);
    pthread_t t;
    pthread_create(&t, NULL, handoff_waker, &h);
    int woken = 0, seq_moved = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t seen = gt_done_seq();
        atomic_store(&h.rounds, i);
        woken += gt_note_sleep(&h.note, 5000000000LL);
        /* A spin ends early when it finds it lost its CPU (a crowded machine, or a
         * sanitizer's slow clock reads): spin again until the budget is spent. */
        int64_t left = 5000000000LL;
        int moved = gt_done_seq() != seen;
        while (!moved && left > 0)
            moved = gt_done_spin(seen, &left) || gt_done_seq() != seen;
        seq_moved += moved;
    }
    pthread_join(t, NULL);
    CHECK(woken == 2000, "woken %d of 2000", woken);
    CHECK(seq_moved == 2000, "sequence moved %d of 2000", seq_moved);
    CHECK(gt_note_sleep(&h.note, 1000000) == 0, "no wakeup left over");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    foreign = getenv("GT_TEST_FOREIGN_RUNTIME");
    long cycles = argc > 1 ? atol(argv[1]) : 100000;
    if (argc > 2)
        stack_bytes = (size_t)atol(argv[2]) << 10;
    test_sizes();
    test_spin_adapt();
    test_spin_preempted_often();
    test_note_floor();
    test_note_slept();
    test_note_wakeup_from_the_kernel();
    test_spin_gaps();
    test_note_handoff();
    int adapt_failed = test_adapt();
    CHECK(adapt_failed == 0, "%d adaptive-concurrency checks failed (above)", adapt_failed);
    /* Warm up: fill the stack cache and malloc's arenas before the baseline. */
    if (gt_raw_supported())
        churn(GT_M_RAW, 2000, 8);
    churn(GT_M_PTHREAD, 2000, 8);
    churn(GT_M_PTHREAD, 2000, 1);
    check_balanced("warm-up");
    wait_template_gone();
    procinfo base = proc_now();
    gt_stats st0;
    gt_get_stats(&st0);

    int concs[] = { 1, 8 };
    for (int k = 0; k < 2; k++) {
        gt_mkind kind = k == 0 ? GT_M_RAW : GT_M_PTHREAD;
        if (kind == GT_M_RAW && !gt_raw_supported())
            continue;
        for (int i = 0; i < 2; i++)
            churn(kind, cycles / 2, concs[i]);
        check_balanced(kind == GT_M_RAW ? "raw churn" : "pthread churn");
    }
    gt_stats st;
    gt_get_stats(&st);
    wait_template_gone();
    procinfo end = proc_now();
    /* Flat: the same maps and VmSize (the cache is already full at the baseline).
     * Under a runtime that maps memory of its own (GT_TEST_FOREIGN_RUNTIME=qemu|asan|tsan: qemu-user,
     * whose VmSize is qemu's; ASan and TSan, with per-thread allocator state) VmSize is
     * not ours and some more maps lines may appear (ASan: 22 over 200k Ms): a leak of 1 % of the stacks
     * would still add thousands of lines.  TSan maps shadow for every stack address it
     * sees, so there only our own counters (check_balanced) can speak.
     *
     * One more allowance: glibc caches the stacks of exited detached threads (up to
     * 40 MiB), and a template thread that starts while the previous one is still on
     * its way out gets a fresh 256 KiB stack: 2 lines and 260 kB, once.  A leaked M
     * stack is 2 lines and 260 kB per leaked M, and 200k Ms run here.
     *
     * And the stack cache may still grow after the warm-up: it keeps as many stacks as
     * were ever in use at once (up to its limit), and on a busy machine more Ms are
     * on their way out, not yet reaped, at once (4 more stacks beside two CPU hogs).
     * Those stacks are counted (check_balanced: every one of them is in the cache), so
     * each one the cache gained allows its own 2 lines and its size, no more. */
    long gained = (long)st.stacks_mapped - (long)st0.stacks_mapped;
    if (gained < 0)
        gained = 0;
    long stack_kb = (long)((stack_bytes + (size_t)sysconf(_SC_PAGESIZE)) >> 10);
    CHECK(end.maps <= base.maps + 2 + 2 * gained + (foreign ? 64 : 0) ||
              (foreign && !strcmp(foreign, "tsan")),
          "maps %ld -> %ld, the stack cache gained %ld", base.maps, end.maps, gained);
    /* malloc may move its heap top a little */
    CHECK(foreign || end.vmsize_kb <= base.vmsize_kb + 260 + 192 + gained * stack_kb,
          "VmSize %ld -> %ld kB, the stack cache gained %ld", base.vmsize_kb, end.vmsize_kb,
          gained);
    CHECK(end.threads == base.threads, "threads %ld -> %ld", base.threads, end.threads);
    printf("maps %ld -> %ld, VmSize %ld -> %ld kB, threads %ld -> %ld, "
           "created %llu, pushbacks %llu, stacks %llu -> %llu\n",
           base.maps, end.maps, base.vmsize_kb, end.vmsize_kb, base.threads, end.threads,
           (unsigned long long)st.ms_created, (unsigned long long)st.freem_pushbacks,
           (unsigned long long)st0.stacks_mapped, (unsigned long long)st.stacks_mapped);
    CHECK(st.freem_pushbacks > 0, "the push-back path never ran");

    test_fork();
    test_m_creates_m();
    test_fork_in_m();
    check_balanced("after Ms made Ms");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
