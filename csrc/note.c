/*
 * note.c -- Go's note (runtime/lock_futex.go): a one-shot wakeup for one sleeper, here
 * with a bounded, adaptive spin before the futex sleep (the spin policy is spin.c's).
 *
 * A worker that runs out of work sleeps on its note; whoever hands it work wakes the
 * note.  A wakeup that lands while the sleeper spins costs no system call on either
 * side; one that finds it in the kernel costs a futex wake (26-54 us to run, here).
 * Each note keeps its own budget, adapted after every sleep by gt_spin_adapt.
 *
 * key: 0 clear, 1 woken, 2 a sleeper is in the kernel.  Only the sleeper clears it.
 */
#include "gothreads.h"
#include "runtime.h"

#define GT_SPIN_MAX_NS 35000

void gt_note_init(gt_note *n)
{
    atomic_store(&n->key, 0);
    n->spin_ns = GT_SPIN_MAX_NS;
    n->last_wait_ns = 0;
    n->slept = 0;
}

int gt_note_wakeup(gt_note *n)
{
    atomic_store_explicit(&n->woken_ns, gt_mono_ns(), memory_order_relaxed);
    if (atomic_exchange_explicit(&n->key, 1, memory_order_release) != 2)
        return 0;
    gt_os_futex_wake(&n->key);
    return 1;
}

void gt_note_clear(gt_note *n) { atomic_store_explicit(&n->key, 0, memory_order_relaxed); }

static int take(gt_note *n)
{
    atomic_store_explicit(&n->key, 0, memory_order_relaxed);
    return 1;
}

static int woken(void *n)
{
    return atomic_load_explicit(&((gt_note *)n)->key, memory_order_acquire) == 1;
}

/* How long after `start` the wakeup came: stamped by the waker, so a sleeper that
 * the kernel wakes late still learns when its spin would have caught it. */
static int64_t woken_after(gt_note *n, int64_t start)
{
    int64_t d = atomic_load_explicit(&n->woken_ns, memory_order_relaxed) - start;
    return d >= 0 ? d : 0;
}

/* How long this sleep may spin.  At its floor a note does not spin at all: its waits
 * have been long, and a spin of the floor's length catches almost nothing (paced 10000/s:
 * 1.5% of 9500 such spins, for 1 us each of every request).  The budget still learns
 * from the stamped wait times (gt_spin_adapt raises it after two soon waits), so a
 * loop that starts again spins again from its third round. */
int64_t gt_note_spin_budget(const gt_note *n)
{
    return n->spin_ns > GT_NOTE_SPIN_FLOOR_NS && gt_spin_allowed() ? n->spin_ns : 0;
}

int gt_note_sleep(gt_note *n, int64_t timeout_ns)
{
    int64_t start = gt_mono_ns(), spent = 0;
    n->slept = 0;
    int64_t budget = gt_note_spin_budget(n);
    if (timeout_ns >= 0 && budget > timeout_ns)
        budget = timeout_ns;
    if (budget > 0 && gt_spin_until(woken, n, budget, &spent)) {
        n->spin_ns = gt_spin_adapt(n->spin_ns, 1, spent, spent, &n->last_wait_ns,
                                   GT_NOTE_SPIN_FLOOR_NS, GT_SPIN_MAX_NS);
        return take(n);
    }
    uint32_t expect = 0;
    if (!atomic_compare_exchange_strong_explicit(&n->key, &expect, 2, memory_order_acquire,
                                                 memory_order_acquire))
        return take(n); /* woken between the spin and here */
    for (;;) {
        int64_t left = -1;
        if (timeout_ns >= 0) {
            left = timeout_ns - (gt_mono_ns() - start);
            if (left <= 0) {
                expect = 2;
                if (atomic_compare_exchange_strong_explicit(&n->key, &expect, 0,
                                                            memory_order_acquire,
                                                            memory_order_acquire)) {
                    n->spin_ns = gt_spin_adapt(n->spin_ns, 0, spent, timeout_ns,
                                               &n->last_wait_ns, GT_NOTE_SPIN_FLOOR_NS,
                                               GT_SPIN_MAX_NS);
                    return 0; /* timed out */
                }
                return take(n);
            }
        }
        n->slept = 1;
        gt_os_futex_wait(&n->key, 2, left);
        if (atomic_load_explicit(&n->key, memory_order_acquire) == 1) {
            n->spin_ns = gt_spin_adapt(n->spin_ns, 0, spent, woken_after(n, start),
                                       &n->last_wait_ns, GT_NOTE_SPIN_FLOOR_NS,
                                       GT_SPIN_MAX_NS);
            return take(n);
        }
    }
}
