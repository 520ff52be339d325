/*
 * os_posix.c -- the part of the OS layer that POSIX gives every port alike (Linux and
 * macOS): page size, the default stack size, yield, a thread's CPU clock, and a pthread_create that starts
 * the new thread with a given signal mask.  The contract is in runtime.h.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

size_t gt_os_page_size(void)
{
    static size_t page;
    if (page == 0)
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

/* What glibc gives a pthread when nobody asks: RLIMIT_STACK, or 8 MiB if unlimited.
 * (macOS's own default for a secondary thread, 512 KiB, is too small for CPython.) */
size_t gt_os_default_stack_size(void)
{
    struct rlimit rl;
    size_t def = (size_t)8 << 20;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur >= gt_stack_size_min() && rl.rlim_cur <= gt_stack_size_max())
        def = (size_t)rl.rlim_cur;
    return def;
}

void gt_os_yield(void) { sched_yield(); }

/* A system call on Linux (the vDSO serves no CPU-time clock): 0.2-0.5 us here. */
int64_t gt_os_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A new thread inherits its creator's signal mask, so the creator takes on the new
 * thread's mask for the length of the create and then restores its own, as Go's
 * newosproc does: the thread starts with the mask from its first instruction, and
 * nothing runs on it first.  (pthread_attr_setsigmask_np says the same in the
 * attribute, but needs glibc 2.32, and the wheel's floor would be 2.32; macOS has no
 * such call.)  glibc's pthread_sigmask never blocks 32 and 33, so neither thread ever
 * holds them blocked. */
int gt_os_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*start)(void *),
                         void *arg, const sigset_t *mask)
{
    sigset_t old;
    int rc = pthread_sigmask(SIG_SETMASK, mask, &old);
    if (rc != 0)
        return -rc;
    rc = pthread_create(th, attr, start, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}
