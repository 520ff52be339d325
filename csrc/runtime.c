/*
 * runtime.c -- Ms: worker threads on stacks the runtime allocates, that can exit, and
 * whose stacks are reaped once they are provably unused.
 *
 * This re-creates, for a C extension under CPython, the Go runtime change
 * "make it possible to exit Go-created threads" (Go commit eff2b262).
 *
 * The design
 * ----------
 * An M is a record (gt_m) plus a stack that we mmap ourselves (stack.c).  Its life is
 * Go's: newm -> allocm -> newosproc -> mstart -> mexit -> exitThread.  While it runs, the
 * M is on `allm`.  When its body returns, mexit moves it from allm to `freem`, and the
 * thread ends.  Nothing frees a stack at exit time: the next allocm (every M creation)
 * and gt_reap() scan freem and reclaim only Ms whose stacks are provably unused.  The
 * three-state free flag (GT_FREE_WAIT / REF / STACK, runtime.h) says how far an M is.
 *
 * There are two ways for the thread to end, as in Go:
 *
 *  - raw M (Go's runtime-managed stack): clone() from an assembly trampoline, and the
 *    assembly exitThread, which release-stores GT_FREE_STACK into the flag and issues
 *    SYS_exit with no stack access in between.  Sound only for code that never calls
 *    libc, never touches TLS and never takes a signal (m_raw.c lists the rules).  No
 *    Python can run there: CPython's thread state, errno, malloc's caches and the stack
 *    canary all live in the TCB, which a raw thread does not have.
 *
 *  - pthread M (Go's OS-managed / cgo case): a joinable pthread on our stack.  glibc
 *    puts its TCB and static TLS inside that stack and keeps running its exit path on
 *    it after our code returns, and the kernel writes the CLEARTID word and rseq area
 *    there until the thread is gone.  So a flag written by our own code is NOT a safe
 *    point (a prototype that trusted one crashed 12 of 12 runs).  The
 *    M stores GT_FREE_REF ("our code is done") and the reaper frees the stack only
 *    once pthread_tryjoin_np() returns 0, i.e. the kernel has cleared the tid.
 *    Python Ms are pthread Ms whose body (in the Cython bridge) attaches a thread
 *    state, calls the callable and detaches.
 *
 * Rejected: detached pthreads with glibc-owned stacks (safe, but the stacks would not be
 * ours to count, cache, bound or free at fork); set_tid_address() on detached threads
 * (relies on glibc internals); pthread_detach after create (use-after-free, Go #68850);
 * running Python on raw threads (no TCB).
 *
 * Memory ordering
 * ---------------
 * The only word an exiting thread and the reaper share without a lock is mp->freewait.
 * The exiting thread's last store to it is a release (C11 release for REF; x86 plain
 * store / arm64 STLR for STACK), the reaper reads it with acquire, so everything the
 * thread did on its stack happens-before the reaper reuses it.  freem is a Treiber
 * stack (freem.c): pushes are release CASes, the reaper takes the whole list with one
 * acquire exchange and pushes survivors back as one chain, so there is no ABA.
 *
 * Locks
 * -----
 * The whole lock order is written in runtime.h, next to gt_sched: GIL -> sched.lock ->
 * glibc's internal locks.  sched.lock guards allm, the stack cache and M creation
 * (newm holds it across pthread_create, so an at-fork prepare that takes it blocks
 * creation while a fork is in flight).  No one holding it waits for another thread:
 * tryjoin does not block, and the C runtime never takes the GIL.
 *
 * What may run on an exiting thread's stack: see HACKING.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

gt_sched gt_sched_g = { .lock = PTHREAD_MUTEX_INITIALIZER, .mnext = 1 };
#define sched gt_sched_g

/* The pthread M this thread runs, if any (raw Ms have no TLS and never set it). */
static GT_THREAD_LOCAL gt_m *gt_curm;

_Noreturn void gt_throw(const char *msg)
{
    fputs(msg, stderr);
    fputc('\n', stderr);
    abort();
}

int gt_raw_supported(void)
{
#if defined(GT_HAVE_RAW_M)
    return 1;
#else
    return 0;
#endif
}

void gt_set_thread_name(const char *name) { gt_os_setname(name); }

/* ---- allm (sched.lock held) ------------------------------------------------------- */

static void allm_link(gt_m *mp)
{
    mp->allprev = NULL;
    mp->allnext = sched.allm;
    if (sched.allm)
        sched.allm->allprev = mp;
    sched.allm = mp;
    mp->on_allm = 1;
}

static void allm_unlink(gt_m *mp)
{
    GT_ASSERT(mp->on_allm);
    if (mp->allprev)
        mp->allprev->allnext = mp->allnext;
    else
        sched.allm = mp->allnext;
    if (mp->allnext)
        mp->allnext->allprev = mp->allprev;
    mp->allnext = mp->allprev = NULL;
    mp->on_allm = 0;
}

/* Give back an M whose thread is gone (or never ran): its stack to the cache, its
 * record to malloc.  sched.lock held. */
static void mfree(gt_m *mp)
{
    if (mp->on_allm)
        allm_unlink(mp); /* a raw M that exited: see (*) in runtime.h */
    if (mp->reaped)
        atomic_fetch_add_explicit(mp->reaped, 1, memory_order_relaxed);
    gt_stackfree(&mp->stack);
    free(mp);
}

/* ---- the reaper (sched.lock held) -------------------------------------------------- */

/* Is mp's stack provably unused?  Acquire pairs with the exiting thread's release. */
static int mdone(gt_m *mp)
{
    uint32_t w = atomic_load_explicit(&mp->freewait, memory_order_acquire);
    if (w == GT_FREE_STACK)
        return 1;                        /* raw M: exitThread said so */
    if (w == GT_FREE_REF) {
#if defined(GT_TEST_PREMATURE_REAP)
        /* Negative control only (tests/c): trust our own flag, which is NOT safe. */
        return 1;
#endif
        return gt_os_tryjoin(mp) == 0;   /* pthread M: only the kernel can say so */
    }
    return 0;                            /* still running on it */
}

static int reap_locked(void)
{
    gt_m *list = atomic_exchange_explicit(&sched.freem, NULL, memory_order_acquire);
    gt_m *keep = NULL, *keeptail = NULL;
    int n = 0;
    while (list) {
        gt_m *mp = list;
        list = mp->freelink;
        if (mdone(mp)) {
            mfree(mp);
            n++;
        } else {
            mp->freelink = keep;
            keep = mp;
            if (!keeptail)
                keeptail = mp;
        }
    }
    if (keep) {
        gt_freem_push(keep, keeptail);
        atomic_fetch_add_explicit(&sched.npushbacks, 1, memory_order_relaxed);
    }
    if (n)
        atomic_fetch_add_explicit(&sched.nmreaped, (uint64_t)n, memory_order_relaxed);
    return n;
}

int gt_reap(void)
{
    /* Cheap when there is nothing to do: no lock for an empty freem. */
    if (atomic_load_explicit(&sched.freem, memory_order_relaxed) == NULL)
        return 0;
    pthread_mutex_lock(&sched.lock);
    int n = reap_locked();
    pthread_mutex_unlock(&sched.lock);
    return n;
}

/* ---- fork ---------------------------------------------------------------------------
 * prepare takes sched.lock, so no M is being created, exiting or reaped while the
 * process forks.  In the child only the forking thread exists: every other M record is
 * dead.  Joining them would be undefined, so their stacks go straight back to the
 * cache (glibc forgot its records of user-stack threads in its own child handler). */

static void fork_prepare(void) { pthread_mutex_lock(&sched.lock); }
static void fork_parent(void) { pthread_mutex_unlock(&sched.lock); }

static void fork_child(void)
{
    pthread_mutex_init(&sched.lock, NULL);
    gt_m *list = atomic_exchange_explicit(&sched.freem, NULL, memory_order_relaxed);
    while (list) {
        gt_m *mp = list;
        list = mp->freelink;
        mfree(mp);
    }
    for (gt_m *mp = sched.allm, *next; mp; mp = next) {
        next = mp->allnext;
        if (mp != gt_curm)
            mfree(mp);
    }
    /* The counts are set, not added up from the lists: a raw M counts itself exited
     * before it pushes itself on freem, lock-free, so one the fork caught in between
     * is on allm yet already counted.  Exact instead: every M but ours has exited,
     * and every exited M is freed. */
    uint64_t exited = atomic_load_explicit(&sched.nmcreated, memory_order_relaxed) -
                      (gt_curm != NULL);
    atomic_store_explicit(&sched.nmexited, exited, memory_order_relaxed);
    atomic_store_explicit(&sched.nmreaped, exited, memory_order_relaxed);
    atomic_store_explicit(&sched.nrawlive, 0, memory_order_relaxed); /* a raw M cannot fork */
    gt_template_forkchild(gt_curm != NULL);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void atfork_install(void)
{
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        gt_throw("gothreads: pthread_atfork failed");
}

/* ---- M life: allocm, newm, mstart, mexit --------------------------------------------- */

/* A fresh record and stack, after reaping freem as Go's allocm does.  sched.lock held. */
static int allocm(gt_mkind kind, gt_mfn fn, void *arg, size_t size, gt_m **out)
{
    reap_locked();
    gt_m *mp = calloc(1, sizeof *mp);
    if (!mp)
        return -ENOMEM;
    int rc = gt_stackalloc(size, &mp->stack);
    if (rc) {
        free(mp);
        return rc;
    }
    mp->kind = kind;
    mp->fn = fn;
    mp->arg = arg;
    mp->state = M_IDLE;
    mp->id = atomic_fetch_add_explicit(&sched.mnext, 1, memory_order_relaxed);
    atomic_store_explicit(&mp->freewait, GT_FREE_WAIT, memory_order_relaxed);
    /* x86-64 TLS convention: the thread pointer points at itself. */
    *(void **)mp->rawtls = mp->rawtls;
    *out = mp;
    return 0;
}

/* mexit for a pthread M, run on the M's own thread after its body returned.
 * Precondition: the worker signal mask (async signals blocked, 32/33 open). */
static void mexit(gt_m *mp)
{
    pthread_mutex_lock(&sched.lock);
    /* In one critical section, so that the M is always on allm or freem for anyone
     * who holds the lock (fork_child, a future stats walk). */
    allm_unlink(mp);
    mp->state = M_EXITED;
    mp->freelink = NULL;
    gt_freem_push(mp, mp);
    atomic_fetch_add_explicit(&sched.nmexited, 1, memory_order_relaxed);
    pthread_mutex_unlock(&sched.lock);
    gt_curm = NULL;
    if (gt_ms_live() == 0)
        gt_template_kick();
    /* Last touch of the record.  Past this line the reaper may tryjoin us; glibc's exit
     * path keeps running on this stack until the kernel clears the tid. */
    atomic_store_explicit(&mp->freewait, GT_FREE_REF, memory_order_release);
}

static void *mstart(void *arg)
{
    gt_m *mp = arg;
    gt_curm = mp;
    mp->fn(mp->arg);
    mexit(mp);
    return NULL;
}

int gt_newm_direct(gt_mkind kind, gt_mfn fn, void *arg, size_t stack_size, _Atomic long *reaped)
{
    if (kind != GT_M_RAW && kind != GT_M_PTHREAD)
        return -EINVAL;
    if (fn == NULL)
        return -EINVAL;
    if (kind == GT_M_RAW && !gt_raw_supported())
        return -ENOSYS;
    long size = gt_stack_round(stack_size);
    if (size < 0)
        return (int)size;
    pthread_once(&atfork_once, atfork_install);

    gt_m *mp;
    pthread_mutex_lock(&sched.lock);
    int rc = allocm(kind, fn, arg, (size_t)size, &mp);
    if (rc == 0) {
        allm_link(mp);
        mp->state = M_RUNNING;
        /* A raw M counts itself out when it exits, so it is counted in first. */
        if (kind == GT_M_RAW)
            atomic_fetch_add_explicit(&sched.nrawlive, 1, memory_order_relaxed);
        rc = kind == GT_M_RAW ? gt_os_newosproc_raw(mp) : gt_os_newosproc(mp, mstart);
        if (rc != 0 && kind == GT_M_RAW)
            atomic_fetch_sub_explicit(&sched.nrawlive, 1, memory_order_relaxed);
        if (rc == 0) {
            /* Counted created and given its churn counter only once its thread runs, so
             * an M whose create failed is neither created nor reaped for anyone.  Still
             * under sched.lock: the reaper cannot free it before it has its counter. */
            mp->reaped = reaped;
            atomic_fetch_add_explicit(&sched.nmcreated, 1, memory_order_relaxed);
        } else {
            mfree(mp); /* the thread never started: the stack is ours again */
        }
    }
    pthread_mutex_unlock(&sched.lock);
    return rc;
}

/* newm: an M never creates an M itself, so that per-thread state a task changed on it
 * (affinity, namespaces, scheduling) cannot spread; it asks the template thread. */
int gt_newm_counted(gt_mkind kind, gt_mfn fn, void *arg, size_t stack_size, _Atomic long *reaped)
{
    if (gt_curm == NULL) {
        /* The new M may ask the template for Ms at once: pinned, it cannot leave
         * before the M counts in ms_live. */
        int rc = gt_template_pin();
        if (rc)
            return rc;
        rc = gt_newm_direct(kind, fn, arg, stack_size, reaped);
        gt_template_unpin();
        return rc;
    }
    int rc = gt_template_newm(kind, fn, arg, stack_size, reaped);
    if (rc != -ESRCH)
        return rc;
    /* No template (a fork from inside an M): the caller is the only thread left. */
    return gt_newm_direct(kind, fn, arg, stack_size, reaped);
}

int gt_newm(gt_mkind kind, gt_mfn fn, void *arg, size_t stack_size)
{
    return gt_newm_counted(kind, fn, arg, stack_size, NULL);
}

void gt_get_stats(gt_stats *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&sched.lock);
    st->ms_created = atomic_load(&sched.nmcreated);
    st->ms_exited = atomic_load(&sched.nmexited);
    st->ms_reaped = atomic_load(&sched.nmreaped);
    st->freem_pushbacks = atomic_load(&sched.npushbacks);
    gt_stack_counts(&st->stacks_mapped, &st->stacks_cached, &st->stack_bytes_mapped,
                    &st->stack_cache_limit);
    pthread_mutex_unlock(&sched.lock);
    st->ms_live = st->ms_created - st->ms_exited;
    st->freem_len = st->ms_exited - st->ms_reaped;
}
