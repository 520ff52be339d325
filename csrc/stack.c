/*
 * stack.c -- M stacks: mmap'd with a PROT_NONE guard page below, kept in a LIFO cache
 * (the most recently freed stack is the warmest), surplus returned to the kernel.
 *
 * munmap costs about as much as creating a thread (10-13 us against 14-17 us, measured
 * on the first development VM), so a freed stack
 * goes to the cache while the cache holds fewer than `limit` stacks; past that it is
 * unmapped at once.  Lowering the limit unmaps the surplus right away.
 *
 * Every function but the size helpers runs with sched.lock held.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime.h"

#define GT_STACK_MAX ((size_t)1 << 30)     /* 1 GiB */
#define GT_STACK_FLOOR ((size_t)64 << 10)  /* 64 KiB: room for glibc's TCB and TLS */
#define GT_CACHE_CAP 256                   /* upper bound of the configurable limit */
#define GT_CACHE_DEFAULT 16

static struct {
    gt_stack cache[GT_CACHE_CAP]; /* LIFO: cache[n-1] is the newest */
    size_t n;
    size_t limit;
    uint64_t mapped;     /* stacks mapped, in use or cached */
    uint64_t bytes;      /* their mapping bytes */
} stk = { .limit = GT_CACHE_DEFAULT };

size_t gt_stack_size_min(void)
{
    size_t floor = GT_STACK_FLOOR;
    long m = sysconf(_SC_THREAD_STACK_MIN);
    /* glibc also needs its TCB and static TLS inside the stack we hand it. */
    if (m > 0 && (size_t)m * 2 > floor)
        floor = (size_t)m * 2;
    return floor;
}

size_t gt_stack_size_max(void) { return GT_STACK_MAX; }

long gt_stack_round(size_t requested)
{
    size_t page = gt_os_page_size();
    size_t size = requested ? requested : gt_os_default_stack_size();
    if (size < gt_stack_size_min() || size > GT_STACK_MAX)
        return -EINVAL;
    size = (size + page - 1) & ~(page - 1);
    return (long)size;
}

long gt_stack_size(size_t requested) { return gt_stack_round(requested); }

int gt_stackalloc(size_t size, gt_stack *out)
{
    size_t page = gt_os_page_size();
    GT_ASSERT(size % page == 0);
    /* Newest first: the top of the LIFO is the most likely to be in cache and TLB. */
    for (size_t i = stk.n; i-- > 0;) {
        if (stk.cache[i].size == size) {
            *out = stk.cache[i];
            memmove(&stk.cache[i], &stk.cache[i + 1], (stk.n - i - 1) * sizeof stk.cache[0]);
            stk.n--;
            return 0;
        }
    }
    size_t mapsize = size + page;
    void *map = mmap(NULL, mapsize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED)
        return -ENOMEM;
    if (mprotect((char *)map + page, size, PROT_READ | PROT_WRITE) != 0) {
        munmap(map, mapsize);
        return -ENOMEM;
    }
    out->map = map;
    out->mapsize = mapsize;
    out->size = size;
    stk.mapped++;
    stk.bytes += mapsize;
    return 0;
}

void gt_stackunmap(gt_stack *st)
{
    if (st->map == NULL)
        return;
    if (munmap(st->map, st->mapsize) != 0)
        gt_throw("gothreads: munmap of an M stack failed");
    stk.mapped--;
    stk.bytes -= st->mapsize;
    st->map = NULL;
}

void gt_stackfree(gt_stack *st)
{
    if (st->map == NULL)
        return;
    if (stk.n < stk.limit) {
        stk.cache[stk.n++] = *st;
        st->map = NULL;
        return;
    }
    gt_stackunmap(st);
}

void gt_set_stack_cache_limit(size_t n)
{
    if (n > GT_CACHE_CAP)
        n = GT_CACHE_CAP;
    pthread_mutex_lock(&gt_sched_g.lock);
    stk.limit = n;
    /* Release the oldest surplus first: they are the coldest. */
    while (stk.n > stk.limit) {
        gt_stack old = stk.cache[0];
        memmove(&stk.cache[0], &stk.cache[1], (stk.n - 1) * sizeof stk.cache[0]);
        stk.n--;
        gt_stackunmap(&old);
    }
    pthread_mutex_unlock(&gt_sched_g.lock);
}

void gt_stack_counts(uint64_t *mapped, uint64_t *cached, uint64_t *bytes, uint64_t *limit)
{
    *mapped = stk.mapped;
    *cached = stk.n;
    *bytes = stk.bytes;
    *limit = stk.limit;
}

void gt_stack_cache_release(void)
{
    pthread_mutex_lock(&gt_sched_g.lock);
    for (size_t i = 0; i < stk.n; i++) {
        gt_stack *st = &stk.cache[i];
        madvise((char *)st->map + (st->mapsize - st->size), st->size, MADV_DONTNEED);
    }
    pthread_mutex_unlock(&gt_sched_g.lock);
}
