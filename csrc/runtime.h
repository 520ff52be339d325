/*
 * runtime.h -- internal to csrc/: the M record, the scheduler globals, and the
 * contracts between runtime.c and the per-OS, per-arch and stack files.
 * Cython never includes this (gothreads.h is its face).
 */
#ifndef GOTHREADS_RUNTIME_H
#define GOTHREADS_RUNTIME_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "gothreads.h"

/* ---- the free flag: Go's three freeWait states (runtime2.go) -------------------- */
enum {
    GT_FREE_STACK = 0, /* the thread is gone: free the stack and drop the record */
    GT_FREE_REF = 1,   /* our code is done with the M; the OS still owns the stack until
                          pthread_tryjoin_np() says the kernel has cleared the tid */
    GT_FREE_WAIT = 2,  /* the thread still runs on this stack: touch nothing */
};

/* ---- the M state machine ---------------------------------------------------------
 * Each M is on exactly one of these lists at any moment, with one exception marked (*).
 *
 *   (allocm)     M_IDLE      record and stack owned by the creating thread, on no list.
 *   (newm)       M_RUNNING   on allm (under sched.lock), freewait = WAIT; the M's own
 *                            thread owns the stack; the record belongs to the runtime.
 *   (mexit)      M_EXITED    on freem.  A pthread M unlinks itself from allm and pushes
 *                            itself on freem in one sched.lock critical section, then
 *                            stores REF and returns into glibc (which still uses the stack).
 *                            (*) A raw M may not take sched.lock (no libc), so it pushes
 *                            itself on freem lock-free and stays on allm until the reaper
 *                            unlinks it; its exitThread stores STACK and ends the thread.
 *   (reap)       freed       the reaper took it off freem, saw STACK (raw) or REF plus a
 *                            successful tryjoin (pthread), returned the stack to the cache
 *                            and freed the record.  Otherwise it pushes the M back.
 *   (fork child) freed       every M but the forking thread's own is freed without a
 *                            join: its thread does not exist in the child.
 */
typedef enum gt_mstate { M_IDLE, M_RUNNING, M_EXITED } gt_mstate;

/* Every thread-local variable of the runtime.  initial-exec: it lives in the static TLS
 * block that glibc lays out inside a new thread's stack when the thread is created, so
 * a thread never allocates memory on its first access.  With the default model of a
 * dlopen'd module (general-dynamic), the first access on a new thread mallocs the
 * module's block in __tls_get_addr, and glibc aborts the process when that fails
 * ("cannot allocate memory for thread-local data"): a worker started under memory
 * pressure killed the process (issue 20).  tests/test_build.py checks that the
 * extension never calls __tls_get_addr. */
#define GT_THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))

typedef struct gt_stack {
    void *map;      /* mapping start: the guard page(s) */
    size_t mapsize; /* whole mapping, guard included */
    size_t size;    /* usable bytes above the guard */
} gt_stack;

typedef struct gt_m {
    struct gt_m *allnext, *allprev; /* allm links; sched.lock */
    struct gt_m *freelink;          /* freem link; written only before the push */
    _Atomic uint32_t freewait;      /* GT_FREE_*: the only word the reaper and an
                                       exiting thread share without a lock */
    gt_mstate state;                /* sched.lock (raw Ms: see the (*) note) */
    int on_allm;                    /* sched.lock */
    gt_mkind kind;
    uint64_t id;
    gt_stack stack;
    pthread_t thread;               /* pthread Ms */
    gt_mfn fn;
    void *arg;
    _Atomic long *reaped;           /* its creator's count of its Ms reaped (churn's),
                                       or NULL: only the reaper knows when, so it adds 1 */
    /* A raw M's TLS pointer points here, so a stray %fs/tpidr_el0 access lands in
       the M's own record instead of the creator's TCB. */
    _Alignas(64) unsigned char rawtls[256];
} gt_m;

/* The scheduler: one per process.  Lock order (the whole of it, GIL included):
 *
 *     GIL  ->  gothreads.executor's _global_lock
 *          ->  sched.lock  ->  glibc's internal locks (pthread_create, malloc, mmap)
 *
 * The executor's pools take no lock of their own: the GIL guards their state, each
 * change being atomic under it (gothreads/_pool.pyx).
 * tmpl.mu (template.c) is a leaf: no other lock is taken while it is held (the
 * template drops it before it creates an M, and reads ms_live lock-free).
 *
 * A thread may take sched.lock while it holds the GIL, never the reverse: the C
 * runtime never takes the GIL.  The bridge still releases the GIL around gt_newm,
 * so that creating a thread does not stall Python.  freem needs no lock: pushes are a
 * CAS, the reaper takes the whole list with one exchange. */
typedef struct gt_sched {
    pthread_mutex_t lock;
    gt_m *allm;                   /* doubly linked; sched.lock */
    _Atomic(gt_m *) freem;        /* Treiber stack */
    _Atomic uint64_t mnext;       /* next M id */
    _Atomic uint64_t nmcreated, nmexited, nmreaped, npushbacks;
    _Atomic int64_t nrawlive;     /* raw Ms from before their thread starts to mexit */
} gt_sched;

extern gt_sched gt_sched_g;

/* Ms whose thread has not reached mexit: derived, never stored.  No lock needed. */
static inline uint64_t gt_ms_live(void)
{
    return atomic_load_explicit(&gt_sched_g.nmcreated, memory_order_relaxed) -
           atomic_load_explicit(&gt_sched_g.nmexited, memory_order_relaxed);
}

/* ---- M creation (runtime.c) and the template thread (template.c) ------------------- */
/* gt_newm, adding 1 to *reaped (when not NULL) once the reaper has freed the M: how
 * churn (churn.c) knows its own Ms are reaped.  gt_newm_direct: create the M from the
 * calling thread, which must be clean (not an M). */
int gt_newm_counted(gt_mkind kind, gt_mfn fn, void *arg, size_t stack_size, _Atomic long *reaped);
int gt_newm_direct(gt_mkind kind, gt_mfn fn, void *arg, size_t stack_size, _Atomic long *reaped);
/* A non-M thread that creates an M pins the template (starting it if need be) until
 * the M is counted in ms_live, so that it cannot leave meanwhile (template.c). */
int gt_template_pin(void);
void gt_template_unpin(void);
/* Ask the template thread to create the M; -ESRCH if it is not running. */
int gt_template_newm(gt_mkind kind, gt_mfn fn, void *arg, size_t size, _Atomic long *reaped);
/* A pthread M that was the last live M tells the template, which then starts its
 * countdown to exit (template.c).  Takes tmpl.mu: call with no lock held. */
void gt_template_kick(void);
void gt_template_forkchild(int from_m);

/* ---- the freem list (runtime.c) ---------------------------------------------------- */
/* Push [head..tail] (already linked through freelink) onto freem.  Lock-free, no libc:
   a raw M calls this on its way out. */
void gt_freem_push(gt_m *head, gt_m *tail);

/* ---- stacks (stack.c); sched.lock held for all but the size helpers ----------------- */
long gt_stack_round(size_t requested);
int gt_stackalloc(size_t size, gt_stack *out);
void gt_stackfree(gt_stack *st);        /* to the LIFO cache, or unmapped past the limit */
void gt_stackunmap(gt_stack *st);       /* straight back to the kernel */
void gt_stack_counts(uint64_t *mapped, uint64_t *cached, uint64_t *bytes, uint64_t *limit);
/* Give the pages of the cached stacks back to the kernel (takes sched.lock itself). */
void gt_stack_cache_release(void);

/* ---- the OS layer (os_linux.c; os_darwin.c is the place for macOS) -------------------- */
/* pthread_create, the new thread starting with *mask as its signal mask; -errno. */
int gt_os_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*start)(void *),
                         void *arg, const sigset_t *mask);
/* Start mp's pthread on mp->stack, joinable, with the worker signal mask. */
int gt_os_newosproc(gt_m *mp, void *(*start)(void *));
/* 0 once the kernel is done with mp's thread and its stack, else -EBUSY. */
int gt_os_tryjoin(gt_m *mp);
/* Start a raw M: clone onto mp->stack with every signal blocked; -ENOSYS if none. */
int gt_os_newosproc_raw(gt_m *mp);
size_t gt_os_default_stack_size(void);
/* Return free malloc memory to the kernel (glibc: malloc_trim). */
void gt_os_trim_heap(void);
size_t gt_os_page_size(void);
void gt_os_yield(void);
/* How often the calling thread has lost its CPU to another thread (involuntary context
 * switches), or -1 where the OS cannot say. */
long gt_os_thread_preemptions(void);

/* Name the calling thread (cut to what the OS keeps). */
void gt_os_setname(const char *name);
/* The CPUs this process may run on (its affinity), at least 1. */
int gt_os_ncpus(void);
/* The CPU time the calling thread has used, in nanoseconds (0 where unknown). */
int64_t gt_os_thread_cpu_ns(void);
/* Sleep while *addr == val, at most timeout_ns (< 0: no limit), in the kernel; may
 * return early for any reason (the caller looks again).  Private to the process. */
void gt_os_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns);
/* Wake one thread sleeping in gt_os_futex_wait on addr. */
void gt_os_futex_wake(_Atomic uint32_t *addr);

/* ---- raw Ms (m_raw.c, freem.c): built freestanding, never sanitized ----------------- */
_Noreturn void gt_raw_mstart(gt_m *mp); /* entry from the clone trampoline */

static inline void gt_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* spin.c: the adaptive budget rule shared by every spinner (see the essay there). */
int64_t gt_spin_adapt(int64_t budget, int caught, int64_t spun_ns, int64_t waited_ns,
                      int64_t *last_wait_ns, int64_t lo, int64_t hi);
/* note.c: how long a note's next sleep may spin (0 at the budget's floor, or when
 * spinning is off). */
#define GT_NOTE_SPIN_FLOOR_NS 1000
int64_t gt_note_spin_budget(const gt_note *n);
/* spin.c: whether a thread preempted this many times in elapsed_ns was preempted so
 * often that the machine is crowded (the rule the brake applies after a spin ran out). */
int gt_spin_preempted_often(long preemptions, int64_t elapsed_ns);

/* ---- arch (arch/sys_<os>_<arch>.S): the contract, stated once ------------------------
 * gt_clone_raw(flags, stack_top, tls, mp, fn): clone a thread with the given flags
 *   whose stack pointer starts at stack_top (16-byte aligned) and which calls fn(mp)
 *   there; fn never returns.  Returns the new tid to the caller, or -errno.
 * gt_exit_thread(wait): end the calling thread (never the process), storing
 *   GT_FREE_STACK (0) into *wait with release semantics as the last access to the
 *   thread's stack; nothing between that store and the exit syscall touches memory. */
long gt_clone_raw(unsigned long flags, void *stack_top, void *tls, gt_m *mp,
                  void (*fn)(gt_m *));
_Noreturn void gt_exit_thread(_Atomic uint32_t *wait);

#ifndef NDEBUG
#define GT_ASSERT(c) ((c) ? (void)0 : gt_throw("assertion failed: " #c))
#else
#define GT_ASSERT(c) ((void)0)
#endif
/* Go's throw: for states that cannot happen.  Constant strings only. */
_Noreturn void gt_throw(const char *msg);

#endif /* GOTHREADS_RUNTIME_H */
