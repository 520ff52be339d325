/*
 * freem.c -- the lock-free freem push, alone in its file because a raw M calls it
 * on its way out: it is built under the same rules as m_raw.c (no libc, no stack
 * protector, no sanitizer instrumentation).
 *
 * freem is a Treiber stack with one consumer pattern that makes ABA impossible: pushes
 * are CAS loops, and the reaper never pops one element, it takes the whole list with a
 * single exchange (runtime.c) and pushes any survivors back as one chain through here.
 */
#include "runtime.h"

void gt_freem_push(gt_m *head, gt_m *tail)
{
    gt_m *old = atomic_load_explicit(&gt_sched_g.freem, memory_order_relaxed);
    do {
        tail->freelink = old;
    } while (!atomic_compare_exchange_weak_explicit(&gt_sched_g.freem, &old, head,
                                                    memory_order_release, memory_order_relaxed));
}
