/*
 * template.c -- Go's template thread (Go #20676, #28979): a clean thread that creates Ms
 * on behalf of Ms.
 *
 * A new thread inherits its creator's CPU affinity, scheduling policy, namespaces and
 * other per-thread OS state.  A worker M runs arbitrary tasks, which may change such
 * state (os.sched_setaffinity, os.unshare, os.setns); if it then created a worker, the
 * taint would spread.  So an M never creates an M itself: it hands the request to the
 * template thread, which was started from a thread that is not an M and does nothing
 * but create Ms.
 *
 * The template starts with the first M created by a non-M thread, and exits after it
 * has been idle for GT_TEMPLATE_IDLE_MS while no M is alive (no M could then need it,
 * and the next creation, again from a non-M thread, restarts it), so a program whose
 * pool shrank to nothing is back to its baseline thread count.  On its way out it
 * returns the burst's memory: see template_main.
 *
 * While Ms are alive it sleeps until asked for an M, or until the last M's exit
 * kicks it (gt_template_kick) and its countdown starts: an idle pool that keeps
 * workers makes no periodic wakeups.  (It used to look every GT_TEMPLATE_IDLE_MS:
 * two wakeups a second for as long as any worker lived.)  A raw M cannot kick it (no
 * libc on a raw M), so while raw Ms live it still looks every GT_TEMPLATE_IDLE_MS.
 *
 * Lock order: tmpl.mu is never held while taking sched.lock (the template drops it
 * before it creates an M), and no one holding sched.lock takes tmpl.mu.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "runtime.h"

#define GT_TEMPLATE_IDLE_MS 500

typedef struct tmpl_req {
    gt_mkind kind;
    gt_mfn fn;
    void *arg;
    size_t size;
    _Atomic long *reaped;
    int rc;
    int done;
    struct tmpl_req *next;
} tmpl_req;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work;  /* the template waits here for requests */
    pthread_cond_t done;  /* requesters wait here for their rc */
    int running;          /* the template thread exists */
    int pins;             /* non-M threads between gt_template_pin and _unpin */
    int orphaned;         /* a fork child forked from inside an M: see gt_template_newm */
    tmpl_req *head, *tail;
} tmpl = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0,
           0, NULL, NULL };

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *template_main(void *unused)
{
    (void)unused;
    gt_os_setname("gothreads-tmpl");
    pthread_mutex_lock(&tmpl.mu);
    for (;;) {
        while (tmpl.head) {
            tmpl_req *r = tmpl.head;
            tmpl.head = r->next;
            if (!tmpl.head)
                tmpl.tail = NULL;
            pthread_mutex_unlock(&tmpl.mu);
            int rc = gt_newm_direct(r->kind, r->fn, r->arg, r->size, r->reaped);
            pthread_mutex_lock(&tmpl.mu);
            r->rc = rc;
            r->done = 1;
            pthread_cond_broadcast(&tmpl.done);
        }
        int rc = 0;
        if ((tmpl.pins == 0 && gt_ms_live() == 0) ||
            atomic_load_explicit(&gt_sched_g.nrawlive, memory_order_relaxed) > 0) {
            /* The countdown to exit, or (raw Ms live) only to look again. */
            struct timespec ts;
            deadline_in(&ts, GT_TEMPLATE_IDLE_MS);
            rc = pthread_cond_timedwait(&tmpl.work, &tmpl.mu, &ts);
        } else {
            /* Woken by a request, an unpin or the last M's kick: each comes under
             * tmpl.mu after what it changed, so none is lost between the test above
             * and this wait. */
            pthread_cond_wait(&tmpl.work, &tmpl.mu);
        }
        /* Leave only if no M can ask us for an M again.  Every M is made by us or by
         * a non-M thread that holds a pin from before its creation until the M is
         * counted in ms_live (gt_newm_direct counts it, then gt_template_unpin takes
         * tmpl.mu, which orders that count before this read).  So with no pin and
         * ms_live 0 no M exists or is being made, and a creation that pins after this
         * critical section finds running == 0 and starts a new template.  Without the
         * pin, an M created while we decided here found no template and made its
         * successor itself, handing down its affinity. */
        if (rc == ETIMEDOUT && !tmpl.head && tmpl.pins == 0 && gt_ms_live() == 0)
            break;
    }
    tmpl.running = 0;
    pthread_mutex_unlock(&tmpl.mu);
    /* Everything is idle: give back what the burst left behind: the pages of the
     * cached stacks (the mappings stay for reuse) and the free memory glibc's
     * per-thread malloc arenas kept.  No reap here: free() on this thread would give it
     * a tcache, and with it a malloc arena of its own (64 MiB of address space). */
    gt_stack_cache_release();
    gt_os_trim_heap();
    return NULL;
}

/* Start the template if it is not running.  Call only from a thread that is not an M:
 * the template inherits the caller's state.  tmpl.mu held. */
static int template_start_locked(void)
{
    if (tmpl.running)
        return 0;
    pthread_attr_t attr;
    sigset_t all;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc)
        return -rc;
    sigfillset(&all);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 << 10);
    rc = gt_os_pthread_create(&th, &attr, template_main, NULL, &all);
    pthread_attr_destroy(&attr);
    if (rc)
        return rc;
    tmpl.running = 1;
    return 0;
}

int gt_template_pin(void)
{
    pthread_mutex_lock(&tmpl.mu);
    int rc = template_start_locked();
    if (rc == 0)
        tmpl.pins++;
    pthread_mutex_unlock(&tmpl.mu);
    return rc;
}

void gt_template_unpin(void)
{
    pthread_mutex_lock(&tmpl.mu);
    GT_ASSERT(tmpl.pins > 0);
    tmpl.pins--;
    pthread_cond_signal(&tmpl.work); /* the M it made may already have exited */
    pthread_mutex_unlock(&tmpl.mu);
}

void gt_template_kick(void)
{
    pthread_mutex_lock(&tmpl.mu);
    pthread_cond_signal(&tmpl.work);
    pthread_mutex_unlock(&tmpl.mu);
}

int gt_template_newm(gt_mkind kind, gt_mfn fn, void *arg, size_t size, _Atomic long *reaped)
{
    tmpl_req r = { kind, fn, arg, size, reaped, 0, 0, NULL };
    pthread_mutex_lock(&tmpl.mu);
    if (!tmpl.running) {
        /* Only after a fork from inside an M: there is no clean thread left to ask.
         * Anywhere else an M alive means the template is (see template_main). */
        GT_ASSERT(tmpl.orphaned);
        pthread_mutex_unlock(&tmpl.mu);
        return -ESRCH;
    }
    if (tmpl.tail)
        tmpl.tail->next = &r;
    else
        tmpl.head = &r;
    tmpl.tail = &r;
    pthread_cond_signal(&tmpl.work);
    while (!r.done)
        pthread_cond_wait(&tmpl.done, &tmpl.mu);
    pthread_mutex_unlock(&tmpl.mu);
    return r.rc;
}

/* In a fork child the template thread does not exist, nor do the other threads that
 * held pins. */
void gt_template_forkchild(int from_m)
{
    pthread_mutex_init(&tmpl.mu, NULL);
    pthread_cond_init(&tmpl.work, NULL);
    pthread_cond_init(&tmpl.done, NULL);
    tmpl.running = 0;
    tmpl.pins = 0;
    tmpl.orphaned = from_m;
    tmpl.head = tmpl.tail = NULL;
}
