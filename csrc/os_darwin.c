/*
 * os_darwin.c -- the reserved place for macOS: runtime.h's OS layer, every function a
 * port must provide beyond os_posix.c's (page size, default stack size, yield, a
 * pthread_create with a signal mask: shared with Linux), each with its plan.  Not ported: setup.py refuses darwin, and the
 * thread functions below say -ENOSYS.  `make macos-check` compiles the core with this
 * file for aarch64-macos and x86_64-macos (zig's clang and its macOS SDK stubs) and
 * links it, which proves the seam: nothing outside os_*.c needs Linux.
 *
 * The plan follows Go, which treats darwin as an OS-managed-stack platform
 * (mStackIsSystemAllocated) and makes every darwin thread with libpthread (since 1.11).
 */
#ifndef GT_DARWIN_STUBS_OK
#error "gothreads: macOS is not ported yet (see csrc/os_darwin.c's plan)"
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

/* Port: thread_info(THREAD_BASIC_INFO) has no count of involuntary switches; -1 makes
 * every gap in a spin count as a crowded machine (spin.c). */
long gt_os_thread_preemptions(void) { return -1; }

/* Port: malloc_zone_pressure_relief(NULL, 0) is darwin's malloc_trim. */
void gt_os_trim_heap(void) {}

/* darwin names only the calling thread, and keeps 63 bytes. */
void gt_os_setname(const char *name) { pthread_setname_np(name); }

/* Port: sysctlbyname("hw.activecpu"); darwin has no affinity to respect. */
int gt_os_ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Port: os_sync_wait_on_address / os_sync_wake_by_address_any (macOS 14.4+,
 * OS_SYNC_WAIT_ON_ADDRESS_NONE, a timeout in ns through the _with_timeout form), or
 * __ulock_wait / __ulock_wake (UL_COMPARE_AND_WAIT, private since 10.12, what libc++
 * and Go's own darwin futex use) on older systems.  Stubbed here with a short sleep:
 * correct (callers look again) but slow. */
void gt_os_futex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t timeout_ns)
{
    struct timespec ts = { 0, 50000 };
    if (timeout_ns >= 0 && timeout_ns < ts.tv_nsec)
        ts.tv_nsec = (long)timeout_ns;
    if (atomic_load(addr) == val)
        nanosleep(&ts, NULL);
}

void gt_os_futex_wake(_Atomic uint32_t *addr) { (void)addr; }

/* Port: a joinable pthread on a system-allocated stack (libpthread keeps its own
 * thread record inside the stack it allocates, and has no pthread_tryjoin_np): the
 * stack cache then only counts, never reuses; the worker signal mask as on Linux. */
int gt_os_newosproc(gt_m *mp, void *(*start)(void *))
{
    (void)mp;
    (void)start;
    return -ENOSYS;
}

/* Port: pthread_join once freewait == GT_FREE_REF (the thread has left our code, so
 * the join waits at most for the few instructions of libpthread's exit). */
int gt_os_tryjoin(gt_m *mp)
{
    (void)mp;
    return -EBUSY;
}

/* darwin threads must come from libpthread: no raw Ms, no arch/sys_darwin_*.S. */
int gt_os_newosproc_raw(gt_m *mp)
{
    (void)mp;
    return -ENOSYS;
}
