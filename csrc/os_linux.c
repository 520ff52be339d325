/*
 * os_linux.c -- the OS layer for Linux (glibc): how an M's thread is started, how we
 * learn that the kernel is done with its stack, the signal masks threads start with, the
 * futex, names, CPU counts.  The contract is in runtime.h; os_posix.c has the part every
 * port shares; os_darwin.c is where macOS goes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include "runtime.h"

long gt_os_thread_preemptions(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : -1;
}

void gt_os_trim_heap(void) { malloc_trim(0); }

int gt_os_ncpus(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

void gt_os_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
    struct timespec ts, *tp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tp = &ts;
    }
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tp, NULL, 0);
}

void gt_os_futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Linux keeps 15 bytes and a NUL; longer names are cut, not refused. */
void gt_os_setname(const char *name)
{
    char buf[16];
    strncpy(buf, name, sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    pthread_setname_np(pthread_self(), buf);
}

/* Workers block every asynchronous signal, so SIGINT, SIGTERM, SIGCHLD... reach the
 * main thread, where CPython runs its handlers.  The synchronous ones stay open: a
 * fault must kill the process with its real cause.  glibc's sigfillset already
 * leaves out its internal 32 (SIGCANCEL) and 33 (SIGSETXID), and pthread_sigmask
 * refuses to block them, so an exiting worker never holds them blocked (Go #42494). */
static void worker_sigmask(sigset_t *set)
{
    sigfillset(set);
    static const int sync_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS };
    for (size_t i = 0; i < sizeof sync_signals / sizeof sync_signals[0]; i++)
        sigdelset(set, sync_signals[i]);
}

int gt_os_newosproc(gt_m *mp, void *(*start)(void *))
{
    pthread_attr_t attr;
    sigset_t mask;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return -rc;
    /* Joinable, always: tryjoin is our only safe reuse point, and detaching after
     * create would be a use-after-free (Go #68850). */
    rc = -pthread_attr_setstack(&attr, (char *)mp->stack.map + (mp->stack.mapsize - mp->stack.size),
                                mp->stack.size);
    if (rc == 0) {
        worker_sigmask(&mask);
        rc = gt_os_pthread_create(&mp->thread, &attr, start, mp, &mask);
    }
    pthread_attr_destroy(&attr);
    return rc;
}

int gt_os_tryjoin(gt_m *mp)
{
    int rc = pthread_tryjoin_np(mp->thread, NULL);
    if (rc == 0)
        return 0;
    if (rc != EBUSY)
        gt_throw("gothreads: pthread_tryjoin_np failed on an M thread");
    return -EBUSY;
}

#if defined(GT_HAVE_RAW_M)
int gt_os_newosproc_raw(gt_m *mp)
{
    /* Every signal blocked, the glibc-internal ones included: a handler would run on
     * a thread with no TCB of its own.  glibc's pthread_sigmask filters 32 and 33, so
     * use the system call.  The child inherits this mask for its whole life. */
    uint64_t all = ~(uint64_t)0, old;
    unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                          CLONE_THREAD | CLONE_SYSVSEM | CLONE_SETTLS;
    char *top = (char *)mp->stack.map + mp->stack.mapsize;
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all) != 0)
        return -errno;
    long tid = gt_clone_raw(flags, top, mp->rawtls, mp, gt_raw_mstart);
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof old);
    return tid < 0 ? (int)tid : 0;
}
#else
int gt_os_newosproc_raw(gt_m *mp)
{
    (void)mp;
    return -ENOSYS;
}
#endif
